"""Grid expansion, objectives, parallel sweeps with best pick and aliasing; `why`.

Sweeps and `why` run against the real core and runner (see helpers.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import stepline
from stepline.errors import NotFound, SpecError, UsageError
from stepline.pipeline.cache import cache_key, explain, why
from stepline.pipeline.run import run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.pipeline.sweep import expand_grid, parse_objective, run_sweep, sweep_values
from stepline.pipeline.tracking import ComponentsRunner, CoreTracker

from .helpers import chain, sweep_pipeline


def test_expand_grid() -> None:
    assert expand_grid(["a=1,2", "b=x", "c=3,4"]) == [
        ["a=1", "b=x", "c=3"],
        ["a=1", "b=x", "c=4"],
        ["a=2", "b=x", "c=3"],
        ["a=2", "b=x", "c=4"],
    ]
    assert sweep_values("range(1,10,4)") == ["1", "5", "9"]
    assert sweep_values("[1,2],'a,b'") == ["[1,2]", "'a,b'"]
    assert expand_grid(["~x"]) == [["~x"]]


def test_parse_objective() -> None:
    assert parse_objective("summary.mae:min").key == "mae"
    assert parse_objective("summary.auc:max").better(0.9, 0.8)
    with pytest.raises(UsageError, match=r"summary\.<key>:min\|max"):
        parse_objective("mae:lowest")


def test_cache_key_is_stable_and_explained() -> None:
    a = cache_key(
        source_digest="s",
        entry_point="main",
        parameters={"x": "1", "y": "2"},
        inputs={"a:latest": "d1"},
        env_digest="e",
    )
    b = cache_key(
        source_digest="s",
        entry_point="main",
        parameters={"y": "2", "x": "1"},
        inputs={"a:latest": "d1"},
        env_digest="e",
    )
    c = cache_key(
        source_digest="s",
        entry_point="main",
        parameters={"x": "3", "y": "2"},
        inputs={"a:latest": "d2"},
        env_digest="e",
    )
    assert a.key == b.key != c.key
    changes = explain(a.fields, c.fields)
    assert [(ch.key, ch.before, ch.after) for ch in changes] == [
        ("parameters.x", "1", "3"),
        ("inputs.a:latest", "d1", "d2"),
    ]
    assert explain(a.fields, b.fields) == []


def test_sweep_picks_and_aliases_the_best(tmp_path: Path) -> None:
    path = sweep_pipeline(tmp_path)
    points = expand_grid(["m.depth=1,5", "m.trees=100,300"])
    res = run_sweep(
        path,
        points,
        jobs=4,
        optimize="summary.mae:min",
        alias_best="prod",
        runner=ComponentsRunner(),
        tracker=CoreTracker(),
    )
    assert res.ok and len(res.points) == 4
    assert res.best is not None
    best = res.points[res.best]
    assert best.overrides == ["m.depth=5", "m.trees=100"] and best.value == pytest.approx(3.0)
    executions = {p.result.execution_id for p in res.points if p.result}
    assert len(executions) == 4
    assert {p.result.group for p in res.points if p.result} == {res.group}
    model_version = best.result.steps["train"].outputs["model"]  # type: ignore[union-attr]
    api = stepline.Api()
    prod = api.artifact("demo/model:prod")
    assert prod.version == model_version
    assert prod.logged_by().id == best.result.steps["train"].run_id  # type: ignore[union-attr]
    assert res.aliased == [f"demo/model:{model_version} -> prod"]
    # prep is the same everywhere: it ran once, the others waited for it and hit the cache,
    # and each train step reads its input in its own execution's scope (cache hits link the
    # original outputs into the execution that reused them)
    preps = [p.result.steps["prep"] for p in res.points if p.result]
    assert sorted(s.state for s in preps) == ["cached", "cached", "cached", "finished"]
    original = next(s.run_id for s in preps if s.state == "finished")
    for p in res.points:
        assert p.result is not None
        run = api.run(p.result.steps["train"].run_id)
        assert run.summary["scope"] == p.result.execution_id  # STEPLINE_SCOPE in the step
        assert run.info["execution"] == p.result.execution_id
        used = run.used_artifacts()
        assert [(a.name, a.version) for a in used] == [("data", "v0")]
        assert used[0].logged_by().id == original


def test_bad_sweep_point_fails_before_running(tmp_path: Path) -> None:
    path = sweep_pipeline(tmp_path)
    runner, tracker = ComponentsRunner(), CoreTracker()
    with pytest.raises(SpecError, match=r"m\.dpth"):
        run_sweep(path, expand_grid(["m.dpth=1,2"]), runner=runner, tracker=tracker)
    assert stepline.Api().runs() == []
    with pytest.raises(UsageError, match="--alias-best needs --optimize"):
        run_sweep(path, [[]], alias_best="prod", runner=runner, tracker=tracker)


def test_why_names_changed_fields(tmp_path: Path) -> None:
    runner, tracker = ComponentsRunner(), CoreTracker()
    path = chain(tmp_path)
    with pytest.raises(NotFound, match="step 'double' has no recorded pipeline run"):
        why(tracker, "demo", "double")
    first = run_pipeline(load_pipeline(path), runner=runner, tracker=tracker)
    second = run_pipeline(load_pipeline(path, ["f=9", "v=2"]), runner=runner, tracker=tracker)
    report = why(tracker, "demo", "double")
    assert report.run.id == second.steps["double"].run_id
    assert report.previous.id == first.steps["double"].run_id
    keys = [c.key for c in report.changes]
    assert keys == ["parameters.factor", "inputs.a.txt:latest"]
    assert not report.hit
    third = run_pipeline(load_pipeline(path, ["f=9", "v=2"]), runner=runner, tracker=tracker)
    report = why(tracker, "demo", "side", execution=third.execution_id)
    assert report.hit and report.changes == []
    old = why(tracker, "demo", "double", execution=first.group)
    assert old.run.id == first.steps["double"].run_id and old.previous is None


def test_predict_cache_and_renderings(tmp_path: Path) -> None:
    from stepline.pipeline.render import to_dot, to_mermaid
    from stepline.pipeline.run import plan_execution, predict_cache

    runner, tracker = ComponentsRunner(), CoreTracker()
    path = chain(tmp_path)
    spec = load_pipeline(path)
    plan = plan_execution(spec, runner, tracker)
    assert predict_cache(plan, tracker) == {
        "make": ("miss", None),
        "double": ("unknown", None),
        "report": ("unknown", None),
        "side": ("miss", None),
    }
    first = run_pipeline(spec, runner=runner, tracker=tracker)
    predicted = predict_cache(
        plan_execution(load_pipeline(path, ["f=4"]), runner, tracker), tracker
    )
    assert predicted["make"] == ("hit", first.steps["make"].run_id)
    assert predicted["double"] == ("miss", None) and predicted["report"] == ("unknown", None)
    mermaid = to_mermaid(spec, plan.dag, {"make": "hit"})
    assert mermaid.startswith("flowchart LR\n")
    assert "s_make -->|a.txt| s_double" in mermaid and 's_make["make<br/>hit"]' in mermaid
    dot = to_dot(spec, plan.dag)
    assert '"double" -> "report" [label="b.txt"];' in dot and dot.rstrip().endswith("}")


def test_why_compares_with_the_closest_earlier_run_and_names_versions(tmp_path: Path) -> None:
    runner, tracker = ComponentsRunner(), CoreTracker()
    path = chain(tmp_path)
    first = run_pipeline(load_pipeline(path), runner=runner, tracker=tracker)
    second = run_pipeline(load_pipeline(path, ["f=9", "v=2"]), runner=runner, tracker=tracker)
    changed = why(tracker, "demo", "double", execution=second.execution_id)
    inputs = [c for c in changed.changes if c.field == "inputs"]
    assert [(c.before, c.after) for c in inputs] == [("v0", "v1")]  # versions, not digests
    # back to the first configuration: the newest earlier run (second) differs in two fields,
    # the first run in none, so `why` compares with the first
    third = run_pipeline(load_pipeline(path), runner=runner, tracker=tracker)
    report = why(tracker, "demo", "double", execution=third.execution_id)
    assert report.hit and report.run.info["cached_from"] == first.steps["double"].run_id
    assert report.previous.id == first.steps["double"].run_id and report.changes == []
