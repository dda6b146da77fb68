"""Scheduling, caching, failure isolation and interruption, with the stand-in core and runner."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from stepline.errors import SpecError
from stepline.pipeline.run import ExecutionResult, run_pipeline
from stepline.pipeline.spec import load_pipeline

from .helpers import chain, component, pipeline
from .standin import StandinRunner, StandinTracker


@pytest.fixture
def env(tmp_path: Path):
    tracker = StandinTracker()
    runner = StandinRunner(tracker, tmp_path / "out")
    return tmp_path, tracker, runner


def go(path: Path, tracker, runner, overrides=(), **kw) -> ExecutionResult:
    return run_pipeline(
        load_pipeline(path, overrides), runner=runner, tracker=tracker, jobs=2, **kw
    )


def states(result: ExecutionResult) -> dict[str, str]:
    return {n: s.state for n, s in result.steps.items()}


def test_run_then_everything_hits_the_cache(env) -> None:
    root, tracker, runner = env
    path = chain(root)
    first = go(path, tracker, runner)
    assert first.ok, states(first)
    assert set(states(first).values()) == {"finished"}
    step_run = tracker.runs_by_id[first.steps["double"].run_id]
    assert step_run.env["STEPLINE_SCOPE"] == first.execution_id
    assert step_run.info["execution"] == first.execution_id
    assert step_run.group == first.group and step_run.job_type == "double"
    assert step_run.info["inputs_resolved"] == {"a.txt:latest": "demo/a.txt:v0"}

    second = go(path, tracker, runner)
    assert second.ok and set(states(second).values()) == {"cached"}
    for name, st in second.steps.items():
        assert st.cached_from == first.steps[name].run_id
        cached = tracker.runs_by_id[st.run_id]
        assert cached.state == "cached" and cached.info["cached_from"] == st.cached_from
        assert cached.group == second.group != first.group
    record = tracker.runs_by_id[second.run_id]
    assert record.job_type == "pipeline" and record.info["status"] == "finished"
    assert record.info["steps"]["make"]["state"] == "cached"
    assert record.info["dag"]["double"] == ["make"]


def test_changed_parameter_reruns_only_what_changed(env) -> None:
    root, tracker, runner = env
    path = chain(root)
    go(path, tracker, runner)
    # f changes double's parameter: double re-runs; its output changes so report re-runs
    res = go(path, tracker, runner, ["f=3"])
    assert states(res) == {
        "make": "cached",
        "double": "finished",
        "report": "finished",
        "side": "cached",
    }
    # v changes make's output content; double's parameter is unchanged but its input digest
    # changed, so it re-runs; its output is the same content, so report hits the cache
    res = go(path, tracker, runner, ["v=5"])
    assert states(res) == {
        "make": "finished",
        "double": "finished",
        "report": "cached",
        "side": "cached",
    }


def test_no_cache_force_and_selection(env) -> None:
    root, tracker, runner = env
    path = chain(root)
    go(path, tracker, runner)
    assert set(states(go(path, tracker, runner, no_cache=True)).values()) == {"finished"}
    res = go(path, tracker, runner, force=["double"])
    assert states(res)["double"] == "finished" and states(res)["make"] == "cached"
    res = go(path, tracker, runner, from_step="double")
    assert list(res.steps) == ["double", "report"]
    res = go(path, tracker, runner, only=["report"])
    assert states(res) == {"report": "cached"}


def test_cache_hit_needs_outputs_in_store(env) -> None:
    root, tracker, runner = env
    path = chain(root)
    go(path, tracker, runner)
    tracker.delete_version("s.txt", "v0")
    res = go(path, tracker, runner)
    assert states(res)["side"] == "finished" and states(res)["make"] == "cached"


def test_failed_step_stops_dependents_only_and_resume_hits_cache(env) -> None:
    root, tracker, runner = env
    path = chain(root)
    bad = root / "components" / "double" / "MLproject"
    good = bad.read_text()
    bad.write_text(good.replace('echo "{factor}"', "echo boom >&2; exit 3; echo"))
    res = go(path, tracker, runner)
    assert not res.ok and res.status == "failed"
    assert states(res) == {
        "make": "finished",
        "double": "failed",
        "report": "skipped",
        "side": "finished",
    }
    assert res.steps["double"].reason.startswith("exit code 3")
    assert "upstream double" in res.steps["report"].reason
    bad.write_text(good)
    res = go(path, tracker, runner)
    assert states(res) == {
        "make": "cached",
        "double": "finished",
        "report": "finished",
        "side": "cached",
    }


def test_killed_step_reports_its_signal(env) -> None:
    root, tracker, runner = env
    component(root, "die", "kill -KILL $$", {})
    path = pipeline(root, {"die": {"component": "components/die"}})
    res = go(path, tracker, runner)
    assert res.steps["die"].state == "failed"
    assert res.steps["die"].reason.startswith("killed by signal SIGKILL")


def test_missing_output_fails_the_step(env) -> None:
    root, tracker, runner = env
    component(root, "lazy", "true", {})
    path = pipeline(root, {"lazy": {"component": "components/lazy", "outputs": ["x.csv"]}})
    res = go(path, tracker, runner)
    assert res.steps["lazy"].state == "failed"
    assert "declared output 'x.csv' was not logged" in res.steps["lazy"].reason


def test_input_nobody_provides_fails_before_running(env) -> None:
    root, tracker, runner = env
    path = chain(root)
    with pytest.raises(
        SpecError, match=r"step 'double': inputs: 'a.txt:latest' is not in the store.*--from make"
    ):
        go(path, tracker, runner, only=["double"])
    assert tracker.runs_by_id == {}
    component(root, "ref", "true", {})
    path = pipeline(root, {"ref": {"component": "components/ref", "inputs": ["a.txt:reference"]}})
    with pytest.raises(SpecError, match=r"step 'ref': inputs: 'a.txt:reference'"):
        go(path, tracker, runner)


def test_independent_steps_run_in_parallel(env) -> None:
    root, tracker, runner = env
    for n in ("a", "b"):
        component(root, n, f'sleep 1; echo > "$STEPLINE_OUT/{n}"', {})
    path = pipeline(root, {n: {"component": f"components/{n}", "outputs": [n]} for n in "ab"})
    res = go(path, tracker, runner)
    assert res.ok
    ranges = sorted((s.started, s.ended) for s in res.steps.values())
    assert ranges[1][0] < ranges[0][1]  # overlapping


def test_cancel_marks_running_failed_and_pending_cancelled(env) -> None:
    root, tracker, runner = env
    component(root, "slow", 'sleep 30; echo > "$STEPLINE_OUT/x"', {})
    component(root, "after", "true", {})
    path = pipeline(
        root,
        {
            "slow": {"component": "components/slow", "outputs": ["x"]},
            "after": {"component": "components/after", "inputs": ["x:latest"]},
        },
    )
    cancel = threading.Event()
    threading.Timer(0.7, cancel.set).start()
    t0 = time.monotonic()
    res = go(path, tracker, runner, cancel=cancel)
    assert time.monotonic() - t0 < 25  # the 30 s step was stopped, not waited for
    assert res.status == "cancelled" and not res.ok
    assert res.steps["slow"].state == "failed"
    assert "SIGTERM" in res.steps["slow"].reason
    assert res.steps["after"].state in ("cancelled", "skipped")
    assert tracker.runs_by_id[res.run_id].state == "failed"


def test_output_lines_reach_the_listener(env) -> None:
    from stepline.pipeline.run import Listener

    root, tracker, runner = env
    path = chain(root)
    seen: list[tuple[str, str]] = []

    class L(Listener):
        def step_output(self, execution_id, step, stream, line):  # type: ignore[no-untyped-def]
            seen.append((step, line.strip()))

    res = go(path, tracker, runner, listener=L())
    assert ("report", "report") in seen
    assert list(res.steps["report"].log_tail) == ["report"]


def test_absolute_file_parameter_content_is_in_the_key(env) -> None:
    root, tracker, runner = env
    cfg = root / "rf_config.json"
    cfg.write_text('{"max_depth": 10}')
    component(root, "train", 'cat {rf_config} > "$STEPLINE_OUT/model"', {"rf_config": None})
    path = pipeline(
        root,
        {
            "train": {
                "component": "components/train",
                "parameters": {"rf_config": str(cfg)},
                "outputs": ["model"],
            }
        },
    )
    assert go(path, tracker, runner).steps["train"].state == "finished"
    assert go(path, tracker, runner).steps["train"].state == "cached"
    cfg.write_text('{"max_depth": 50}')  # same parameter text, new content
    res = go(path, tracker, runner)
    assert res.steps["train"].state == "finished"
    fields = tracker.runs_by_id[res.steps["train"].run_id].info["cache_fields"]
    assert f"file:{cfg}" in fields["inputs"]


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
