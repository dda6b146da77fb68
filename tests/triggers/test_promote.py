"""The action of a trigger on a real pipeline: run, test candidate vs prod, promote by policy."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("croniter")

from stepline.pipeline.run import run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.pipeline.tracking import CoreTracker
from stepline.tracking.api import Api
from stepline.triggers.watch import Watcher

from .helpers import PROMOTE, pipeline_runs, put_sample, write_pipeline

TRIGGERS = {"on": {"new_sample": {"artifact": "sample.csv"}}, **PROMOTE}


def _prod() -> str:
    return str(Api().artifact("demo/model:prod", scope=None).version)


def _first_prod(tmp_path: Path, bias: float) -> None:
    """sample v0 -> model v0 (bias `bias`), made prod by hand."""
    put_sample(tmp_path, 2.0, "v0")
    path = write_pipeline(tmp_path, TRIGGERS, bias=bias)
    result = run_pipeline(load_pipeline(path, ["score.model=model:latest"]))
    assert result.ok, {n: s.reason for n, s in result.steps.items()}
    CoreTracker().alias("demo/model:v0", "prod")


def test_better_candidate_is_promoted_with_the_reason(tmp_path: Path) -> None:
    _first_prod(tmp_path, bias=10.0)
    watcher = Watcher(load_pipeline(tmp_path / "pipeline.yaml"))
    (armed,) = watcher.poll_once()
    assert armed.event is not None and armed.event.armed
    assert watcher.poll_once()[0].event is None  # nothing new yet

    put_sample(tmp_path, 3.0, "v1")
    write_pipeline(tmp_path, TRIGGERS, bias=0.0)  # the user fixed the model
    (seen,) = watcher.poll_once()
    out = seen.outcome
    assert out is not None and out.ok
    assert out.candidate == "model:v1" and out.prod == "model:v0"
    assert out.candidate_metric is not None and out.prod_metric is not None
    assert out.candidate_metric < 1.0 < 9.0 < out.prod_metric
    assert out.promoted, out.reason
    assert "beats" in out.reason and "sample.csv:v1" in out.reason
    assert _prod() == "v1"

    api = Api()
    record = api.run(f"demo/{out.record_id}")
    assert record.job_type == "trigger"
    assert record.info["decision"]["promoted"] is True
    assert record.summary["improvement"] == pytest.approx(out.prod_metric - out.candidate_metric)
    assert record.info["trigger_event"] == "sample.csv:v1"
    assert [a.version for a in record.used_artifacts()] == ["v1"]

    execution = next(
        r for r in pipeline_runs() if r.info.get("execution") == out.execution.execution_id
    )
    assert execution.info["triggered_by"]["event"] == "sample.csv:v1"
    assert execution.info["triggered_by"]["record"] == out.record_id
    assert [f"{a.name.split(':')[0]}:{a.version}" for a in execution.used_artifacts()] == [
        "sample.csv:v1"
    ]
    train = api.run(f"demo/{out.execution.steps['train'].run_id}")
    assert train.info["triggered_by"]["trigger"] == "new_sample"
    # both tests scored on the same, pinned test split
    tests = [
        r
        for r in api.runs("demo", filters={"job_type": "score"})
        if (r.info.get("triggered_by") or {}).get("role")
    ]
    assert {r.info["triggered_by"]["role"] for r in tests} == {"test candidate", "test prod"}
    assert {r.config["test_data"] for r in tests} == {"test.csv:v1"}
    assert {r.config["model"] for r in tests} == {"model:v0", "model:v1"}


def test_worse_candidate_is_not_promoted(tmp_path: Path) -> None:
    _first_prod(tmp_path, bias=1.0)
    watcher = Watcher(load_pipeline(tmp_path / "pipeline.yaml"))
    watcher.poll_once()
    put_sample(tmp_path, 2.0, "v1", noise=0.4)  # the same market, new rows
    write_pipeline(tmp_path, TRIGGERS, bias=1.3)  # worse than prod, but only slightly
    (seen,) = watcher.poll_once()
    out = seen.outcome
    assert out is not None and out.ok and not out.promoted
    assert "is not 0.5 better" in out.reason
    assert _prod() == "v0"
    record = Api().run(f"demo/{out.record_id}")
    assert record.info["decision"]["promoted"] is False
    assert record.summary["promoted"] == 0


def test_failing_candidate_is_never_promoted(tmp_path: Path) -> None:
    _first_prod(tmp_path, bias=10.0)
    watcher = Watcher(load_pipeline(tmp_path / "pipeline.yaml"))
    watcher.poll_once()
    put_sample(tmp_path, 3.0, "v1")
    write_pipeline(tmp_path, TRIGGERS, bias=0.0, broken=True)  # trains, but fails its test
    (seen,) = watcher.poll_once()
    out = seen.outcome
    assert out is not None and out.ok and not out.promoted
    assert out.candidate == "model:v1"
    assert "candidate model:v1: the test step failed" in out.reason
    assert _prod() == "v0"


def test_failing_pipeline_is_never_promoted(tmp_path: Path) -> None:
    _first_prod(tmp_path, bias=10.0)
    watcher = Watcher(load_pipeline(tmp_path / "pipeline.yaml"))
    watcher.poll_once()
    put_sample(tmp_path, 3.0, "v1")
    write_pipeline(tmp_path, TRIGGERS, bias=0.0)
    (tmp_path / "components" / "train" / "run.py").write_text("raise SystemExit(4)\n")
    (seen,) = watcher.poll_once()
    out = seen.outcome
    assert out is not None and not out.ok and not out.promoted
    assert "step train failed" in out.reason and "nothing promoted" in out.reason
    assert _prod() == "v0"
    assert Api().run(f"demo/{out.record_id}").state == "failed"
