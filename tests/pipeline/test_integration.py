"""The pipeline against the real tracking core and the real component runner.

Components here are small Python scripts run with env_manager local (no env build), that use
`stepline.init` / `use_artifact` / `log_artifact` exactly as user components do.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

pytest.importorskip("stepline.components")

import stepline
from stepline.pipeline.cache import why
from stepline.pipeline.run import run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.pipeline.sweep import expand_grid, run_sweep
from stepline.pipeline.tracking import CoreTracker

SCRIPTS = {
    "make": """
        import sys, pathlib, tempfile, stepline
        run = stepline.init()
        out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        out.write_text(sys.argv[1])
        art = stepline.Artifact("a.txt", type="raw")
        art.add_file(str(out))
        run.log_artifact(art)
    """,
    "double": """
        import sys, pathlib, tempfile, stepline
        run = stepline.init()
        value = int(pathlib.Path(run.use_artifact("a.txt:latest").file()).read_text())
        out = pathlib.Path(tempfile.mkdtemp()) / "b.txt"
        out.write_text(str(value * int(sys.argv[1])))
        art = stepline.Artifact("b.txt", type="clean")
        art.add_file(str(out))
        run.log_artifact(art)
    """,
    "score": """
        import pathlib, tempfile, stepline
        run = stepline.init()
        value = int(pathlib.Path(run.use_artifact("b.txt:latest").file()).read_text())
        run.summary["mae"] = abs(value - 12)
        out = pathlib.Path(tempfile.mkdtemp()) / "model.txt"
        out.write_text(f"model for {value}")
        art = stepline.Artifact("model", type="model_export")
        art.add_file(str(out))
        run.log_artifact(art)
    """,
}


def write_pipeline(root: Path) -> Path:
    params = {"make": ["value"], "double": ["factor"], "score": []}
    for name, script in SCRIPTS.items():
        d = root / "components" / name
        d.mkdir(parents=True)
        (d / "run.py").write_text(textwrap.dedent(script))
        args = " ".join(f"{{{p}}}" for p in params[name])
        decl = {p: {"type": "string"} for p in params[name]}
        (d / "MLproject").write_text(
            yaml.safe_dump(
                {
                    "name": name,
                    "entry_points": {
                        "main": {"parameters": decl, "command": f"python run.py {args}"}
                    },
                }
            )
        )
    steps = {
        "make": {
            "component": "components/make",
            "parameters": {"value": "${v}"},
            "outputs": ["a.txt"],
            "env_manager": "local",
        },
        "double": {
            "component": "components/double",
            "parameters": {"factor": "${f}"},
            "inputs": ["a.txt:latest"],
            "outputs": ["b.txt"],
            "env_manager": "local",
        },
        "score": {
            "component": "components/score",
            "inputs": ["b.txt:latest"],
            "outputs": ["model"],
            "env_manager": "local",
        },
    }
    path = root / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "demo", "project": "demo", "config": {"v": 3, "f": 2}, "steps": steps}
        )
    )
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    for var in ("STEPLINE_SCOPE", "STEPLINE_RUN_ID", "STEPLINE_PROJECT", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    return write_pipeline(tmp_path)


def test_run_cache_and_lineage(project: Path) -> None:
    tracker = CoreTracker()
    first = run_pipeline(load_pipeline(project), tracker=tracker, jobs=2)
    assert first.ok, {n: (s.state, s.reason) for n, s in first.steps.items()}
    api = stepline.Api()
    double = api.run(first.steps["double"].run_id)
    assert double.state == "finished" and double.group == first.group
    assert double.info["execution"] == first.execution_id
    used = double.used_artifacts()
    assert [(a.name, a.version) for a in used] == [("a.txt", "v0")]
    assert used[0].logged_by().id == first.steps["make"].run_id
    record = api.run(first.run_id)
    assert record.job_type == "pipeline" and record.info["status"] == "finished"
    assert record.info["steps"]["score"]["outputs"] == {"model": "v0"}

    second = run_pipeline(load_pipeline(project), tracker=tracker)
    assert {s.state for s in second.steps.values()} == {"cached"}
    cached = api.run(second.steps["score"].run_id)
    assert cached.state == "cached"
    assert cached.info["cached_from"] == first.steps["score"].run_id

    third = run_pipeline(load_pipeline(project, ["f=4"]), tracker=tracker)
    assert {n: s.state for n, s in third.steps.items()} == {
        "make": "cached",
        "double": "finished",
        "score": "finished",
    }
    assert api.artifact("demo/b.txt:latest").version == "v1"
    report = why(tracker, "demo", "double")
    assert [c.key for c in report.changes] == ["parameters.factor"]


def test_failure_then_resume(project: Path) -> None:
    tracker = CoreTracker()
    script = project.parent / "components" / "score" / "run.py"
    good = script.read_text()
    script.write_text("import sys\nprint('bad score', file=sys.stderr)\nsys.exit(5)\n")
    res = run_pipeline(load_pipeline(project), tracker=tracker)
    assert res.status == "failed" and res.steps["score"].state == "failed"
    assert "exit code 5" in res.steps["score"].reason and "bad score" in res.steps["score"].reason
    assert stepline.Api().run(res.steps["score"].run_id).state == "failed"
    script.write_text(good)
    res = run_pipeline(load_pipeline(project), tracker=tracker)
    assert {n: s.state for n, s in res.steps.items()} == {
        "make": "cached",
        "double": "cached",
        "score": "finished",
    }


def check_scope(points) -> None:  # type: ignore[no-untyped-def]
    api = stepline.Api()
    for p in points:
        assert p.result is not None and p.result.ok
        used = api.run(p.result.steps["double"].run_id).used_artifacts()[0]
        make = p.result.steps["make"]
        assert used.logged_by().id == (make.cached_from or make.run_id), p.overrides


def test_sweep_executions_read_their_own_outputs(project: Path) -> None:
    tracker = CoreTracker()
    res = run_sweep(project, expand_grid(["v=1,2,3,4"]), jobs=2, tracker=tracker)
    assert res.ok and len({p.result.execution_id for p in res.points if p.result}) == 4
    check_scope(res.points)


def test_sweep_optimize_and_alias_best(project: Path) -> None:
    tracker = CoreTracker()
    res = run_sweep(
        project,
        expand_grid(["v=1,2,3", "f=2,4"]),
        jobs=2,
        optimize="summary.mae:min",
        alias_best="prod",
        tracker=tracker,
    )
    assert res.ok
    # identical make steps (same v) ran once: the other execution waited and hit the cache
    makes = [p.result.steps["make"] for p in res.points if p.result]
    assert sorted(m.state for m in makes) == ["cached"] * 3 + ["finished"] * 3
    best = res.points[res.best]  # v=3, f=4 -> 12 -> mae 0
    assert best.overrides == ["v=3", "f=4"] and best.value == 0
    prod = stepline.Api().artifact("demo/model:prod")
    assert prod.logged_by().id == best.result.steps["score"].run_id  # type: ignore[union-attr]


def test_scope_after_cache_hit_in_a_sweep(project: Path) -> None:
    # steps after a cache hit read their inputs in the scope of the execution that produced them
    tracker = CoreTracker()
    res = run_sweep(project, expand_grid(["v=1,2,3", "f=2,4"]), jobs=2, tracker=tracker)
    check_scope(res.points)


def test_runner_and_tracker_on_a_backend_handed_in(project: Path, tmp_path: Path) -> None:
    """A server request or a Ray driver hands in its backend: every run of the execution, and
    what its components log, goes there and not to the store STEPLINE_DIR names."""
    from stepline.backends.local import LocalBackend
    from stepline.pipeline.tracking import ComponentsRunner
    from stepline.tracking.api import Api

    other = LocalBackend(tmp_path / "team-store")
    try:
        result = run_pipeline(
            load_pipeline(project),
            runner=ComponentsRunner(other),
            tracker=CoreTracker(other),
        )
        assert result.ok, {n: (s.state, s.reason) for n, s in result.steps.items()}
        api = Api(other)
        score = api.run(result.steps["score"].run_id)
        assert score.state == "finished" and score.summary["mae"] == 6  # |3 * 2 - 12|
        assert api.run(result.run_id).job_type == "pipeline"
        assert [a.name for a in score.logged_artifacts()] == ["model"]
        assert stepline.Api().runs("demo") == []  # the configured store saw nothing
    finally:
        other.close()
