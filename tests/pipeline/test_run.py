"""Scheduling, caching, failure isolation and interruption, with the real core and runner.

Every step is a real process started by `stepline.components.execute` and logs its outputs
through the public API into the test's own SQLite store (see helpers.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import stepline
from stepline.errors import SpecError
from stepline.pipeline.run import ExecutionResult, Listener, run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.pipeline.tracking import ComponentsRunner, CoreTracker

from .helpers import chain, component, pipeline


def go(path: Path, overrides: Sequence[str] = (), **kw: Any) -> ExecutionResult:
    return run_pipeline(
        load_pipeline(path, overrides),
        runner=ComponentsRunner(),
        tracker=CoreTracker(),
        jobs=2,
        **kw,
    )


def states(result: ExecutionResult) -> dict[str, str]:
    return {n: s.state for n, s in result.steps.items()}


def test_run_then_everything_hits_the_cache(tmp_path: Path) -> None:
    path = chain(tmp_path)
    first = go(path)
    assert first.ok, {n: (s.state, s.reason) for n, s in first.steps.items()}
    assert set(states(first).values()) == {"finished"}
    api = stepline.Api()
    step_run = api.run(first.steps["double"].run_id)
    assert step_run.summary["scope"] == first.execution_id  # STEPLINE_SCOPE, as the step saw it
    assert step_run.info["execution"] == first.execution_id
    assert step_run.group == first.group and step_run.job_type == "double"
    assert step_run.info["inputs_resolved"] == {"a.txt:latest": "demo/a.txt:v0"}
    used = step_run.used_artifacts()
    assert [(a.name, a.version) for a in used] == [("a.txt", "v0")]
    assert used[0].logged_by().id == first.steps["make"].run_id

    second = go(path)
    assert second.ok and set(states(second).values()) == {"cached"}
    for name, st in second.steps.items():
        assert st.cached_from == first.steps[name].run_id
        cached = api.run(st.run_id)
        assert cached.state == "cached" and cached.info["cached_from"] == st.cached_from
        assert cached.group == second.group != first.group
    record = api.run(second.run_id)
    assert record.job_type == "pipeline" and record.info["status"] == "finished"
    assert record.info["steps"]["make"]["state"] == "cached"
    assert record.info["dag"]["double"] == ["make"]
    # each execution has a typed record, and its runs carry its id in an indexed column
    backend = api.backend
    for result in (first, second):
        execution = backend.get_execution(result.execution_id)
        assert (execution.pipeline, execution.group, execution.state) == (
            "demo",
            result.group,
            "finished",
        )
        assert execution.ended_at is not None and execution.started_at <= execution.ended_at
        runs = backend.execution_runs(result.execution_id)
        assert {r.job_type for r in runs} == {"pipeline", *result.steps}
        assert all(r.execution_id == result.execution_id for r in runs)
    step = backend.get_run(first.steps["double"].run_id)
    assert step.cache_key == first.steps["double"].cache_key == step.info["cache_key"]


def test_changed_parameter_reruns_only_what_changed(tmp_path: Path) -> None:
    path = chain(tmp_path)
    go(path)
    # f changes double's parameter: double re-runs; its output changes so report re-runs
    res = go(path, ["f=3"])
    assert states(res) == {
        "make": "cached",
        "double": "finished",
        "report": "finished",
        "side": "cached",
    }
    # v changes make's output content; double's parameter is unchanged but its input digest
    # changed, so it re-runs; its output is the same content, so report hits the cache
    res = go(path, ["v=5"])
    assert states(res) == {
        "make": "finished",
        "double": "finished",
        "report": "cached",
        "side": "cached",
    }


def test_no_cache_force_and_selection(tmp_path: Path) -> None:
    path = chain(tmp_path)
    go(path)
    assert set(states(go(path, no_cache=True)).values()) == {"finished"}
    res = go(path, force=["double"])
    assert states(res)["double"] == "finished" and states(res)["make"] == "cached"
    res = go(path, from_step="double")
    assert list(res.steps) == ["double", "report"]
    res = go(path, only=["report"])
    assert states(res) == {"report": "cached"}


def test_cache_hit_needs_outputs_in_store(tmp_path: Path) -> None:
    path = chain(tmp_path)
    go(path)
    api = stepline.Api()
    api.backend.delete_version(api.artifact("demo/s.txt:v0").id)  # as `stepline gc` does
    res = go(path)
    assert states(res)["side"] == "finished" and states(res)["make"] == "cached"


def test_failed_step_stops_dependents_only_and_resume_hits_cache(tmp_path: Path) -> None:
    path = chain(tmp_path)
    bad = tmp_path / "components" / "double" / "MLproject"
    good = bad.read_text()
    bad.write_text(good.replace('echo "{factor}"', "echo boom >&2; exit 3; echo"))
    res = go(path)
    assert not res.ok and res.status == "failed"
    assert states(res) == {
        "make": "finished",
        "double": "failed",
        "report": "skipped",
        "side": "finished",
    }
    assert res.steps["double"].reason.startswith("exit code 3")
    assert stepline.Api().run(res.steps["double"].run_id).state == "failed"
    assert "upstream double" in res.steps["report"].reason
    bad.write_text(good)
    res = go(path)
    assert states(res) == {
        "make": "cached",
        "double": "finished",
        "report": "finished",
        "side": "cached",
    }


def test_killed_step_reports_its_signal(tmp_path: Path) -> None:
    component(tmp_path, "die", "kill -KILL $$", {})
    path = pipeline(tmp_path, {"die": {"component": "components/die"}})
    res = go(path)
    assert res.steps["die"].state == "failed"
    assert res.steps["die"].reason.startswith("killed by signal SIGKILL")


def test_missing_output_fails_the_step(tmp_path: Path) -> None:
    component(tmp_path, "lazy", "true", {})
    path = pipeline(tmp_path, {"lazy": {"component": "components/lazy", "outputs": ["x.csv"]}})
    res = go(path)
    assert res.steps["lazy"].state == "failed"
    assert "declared output 'x.csv' was not logged" in res.steps["lazy"].reason


def test_input_nobody_provides_fails_before_running(tmp_path: Path) -> None:
    path = chain(tmp_path)
    with pytest.raises(
        SpecError, match=r"step 'double': inputs: 'a.txt:latest' is not in the store.*--from make"
    ):
        go(path, only=["double"])
    assert stepline.Api().runs() == []
    component(tmp_path, "ref", "true", {})
    path = pipeline(
        tmp_path, {"ref": {"component": "components/ref", "inputs": ["a.txt:reference"]}}
    )
    with pytest.raises(SpecError, match=r"step 'ref': inputs: 'a.txt:reference'"):
        go(path)


def test_independent_steps_run_in_parallel(tmp_path: Path) -> None:
    for n in ("a", "b"):
        component(tmp_path, n, f'sleep 1; echo > "$STEPLINE_OUT/{n}"', {})
    path = pipeline(tmp_path, {n: {"component": f"components/{n}", "outputs": [n]} for n in "ab"})
    res = go(path)
    assert res.ok
    ranges = sorted((s.started, s.ended) for s in res.steps.values())
    assert ranges[1][0] < ranges[0][1]  # overlapping


def test_cancel_marks_running_failed_and_pending_cancelled(tmp_path: Path) -> None:
    component(tmp_path, "slow", 'echo started; sleep 30; echo > "$STEPLINE_OUT/x"', {})
    component(tmp_path, "after", "true", {})
    path = pipeline(
        tmp_path,
        {
            "slow": {"component": "components/slow", "outputs": ["x"]},
            "after": {"component": "components/after", "inputs": ["x:latest"]},
        },
    )
    cancel = threading.Event()

    class CancelOnceStarted(Listener):
        def step_output(self, execution_id, step, stream, line):  # type: ignore[no-untyped-def]
            if line.strip() == "started":
                cancel.set()

    t0 = time.monotonic()
    res = go(path, cancel=cancel, listener=CancelOnceStarted())
    assert time.monotonic() - t0 < 25  # the 30 s step was stopped, not waited for
    assert res.status == "cancelled" and not res.ok
    assert res.steps["slow"].state == "failed"
    assert "SIGTERM" in res.steps["slow"].reason
    assert res.steps["after"].state in ("cancelled", "skipped")
    api = stepline.Api()
    assert api.run(res.steps["slow"].run_id).state == "failed"
    assert api.run(res.run_id).state == "failed"


def test_output_lines_reach_the_listener(tmp_path: Path) -> None:
    path = chain(tmp_path)
    seen: list[tuple[str, str]] = []

    class L(Listener):
        def step_output(self, execution_id, step, stream, line):  # type: ignore[no-untyped-def]
            seen.append((step, line.strip()))

    res = go(path, listener=L())
    assert ("report", "report") in seen
    assert list(res.steps["report"].log_tail) == ["report"]
    assert stepline.Api().run(res.steps["report"].run_id).logs("stdout") == "report\n"


def test_absolute_file_parameter_content_is_in_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "rf_config.json"
    cfg.write_text('{"max_depth": 10}')
    component(tmp_path, "train", 'cat {rf_config} > "$STEPLINE_OUT/model"', {"rf_config": None})
    path = pipeline(
        tmp_path,
        {
            "train": {
                "component": "components/train",
                "parameters": {"rf_config": str(cfg)},
                "outputs": ["model"],
            }
        },
    )
    assert go(path).steps["train"].state == "finished"
    assert go(path).steps["train"].state == "cached"
    cfg.write_text('{"max_depth": 50}')  # same parameter text, new content
    res = go(path)
    assert res.steps["train"].state == "finished"
    fields = stepline.Api().run(res.steps["train"].run_id).info["cache_fields"]
    assert fields["parameters"]["rf_config"].startswith("file content blake3:")
    assert str(cfg) not in str(fields)  # the content is keyed, not the path
    model = stepline.Api().artifact("demo/model:latest")
    assert model.version == "v1" and model.logged_by().id == res.steps["train"].run_id


def test_file_parameter_whose_path_changes_each_run_is_keyed_on_content(tmp_path: Path) -> None:
    # Hydra writes rf_config.json to a new outputs/<date>/<time>/ folder on every run
    component(tmp_path, "train", 'cat {rf_config} > "$STEPLINE_OUT/model"', {"rf_config": None})
    first = tmp_path / "outputs" / "2026-12-01" / "10-00-00" / "rf_config.json"
    second = tmp_path / "outputs" / "2026-12-01" / "10-05-00" / "rf_config.json"
    for cfg in (first, second):
        cfg.parent.mkdir(parents=True)
        cfg.write_text('{"max_depth": 10}')
    states = []
    for cfg in (first, second):
        path = pipeline(
            tmp_path,
            {
                "train": {
                    "component": "components/train",
                    "parameters": {"rf_config": str(cfg)},
                    "outputs": ["model"],
                }
            },
        )
        states.append(go(path).steps["train"].state)
    assert states == ["finished", "cached"]


def test_error_line_picks_the_exception() -> None:
    from stepline.pipeline.progress import error_line

    tail = [
        "Traceback (most recent call last):",
        '  File "run.py", line 3, in <module>',
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such column: x",
        "[SQL: SELECT x FROM t]",
        "(Background on this error at: https://sqlalche.me/e/21/e3q8)",
    ]
    assert error_line(tail).startswith("sqlalchemy.exc.OperationalError: (sqlite3")
    assert error_line(["", "just the last line", "  "]) == "just the last line"
    assert error_line([]) == ""
