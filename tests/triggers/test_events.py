"""Trigger events against real pipeline runs: once per event, across restarts, with a clock."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("croniter")

from stepline.pipeline.spec import load_pipeline
from stepline.tracking.api import Api
from stepline.triggers.action import handle
from stepline.triggers.watch import Watcher

from .helpers import pipeline_runs, put_sample, write_pipeline

#: the pipeline scores `model:prod`; without a promote policy there is none, so score the newest
LATEST = ["score.model=model:latest"]


def _triggered() -> list[str]:
    """Events of the executions that triggers started, oldest first."""
    return [
        r.info["triggered_by"]["event"]
        for r in reversed(pipeline_runs())
        if r.info.get("triggered_by") and not r.info["triggered_by"].get("role")
    ]


def test_new_version_runs_once_and_not_again_after_a_restart(tmp_path: Path) -> None:
    put_sample(tmp_path, 2.0, "v0")
    path = write_pipeline(
        tmp_path, {"on": {"new_sample": {"artifact": "sample.csv", "overrides": LATEST}}}
    )
    watcher = Watcher(load_pipeline(path))
    (armed,) = watcher.poll_once()
    assert armed.event is not None and armed.event.key == "armed:v0"
    assert _triggered() == []  # what was there before the watch never runs

    put_sample(tmp_path, 3.0, "v1")
    (seen,) = watcher.poll_once()
    assert seen.outcome is not None and seen.outcome.ok
    assert seen.outcome.reason == "the pipeline ran; no promote: policy"
    assert watcher.poll_once()[0].event is None
    # the same event seen twice (two watchers, a retry): the pipeline still ran once
    again = handle(load_pipeline(path), seen.event)  # type: ignore[arg-type]
    assert again.reason == "already handled" and again.execution is None

    restarted = Watcher(load_pipeline(path))
    assert restarted.poll_once()[0].event is None
    assert _triggered() == ["sample.csv:v1"]

    # versions the pipeline's own steps log never trigger it (no loop)
    assert Api().artifact("demo/test.csv:latest", scope=None).version == "v0"


def test_debounce_waits_for_the_newest_of_a_burst(tmp_path: Path) -> None:
    put_sample(tmp_path, 2.0, "v0")
    triggers = {
        "on": {"new_sample": {"artifact": "sample.csv", "overrides": LATEST}},
        "debounce": 60,
    }
    path = write_pipeline(tmp_path, triggers)
    clock = [datetime.now(timezone.utc).timestamp()]
    watcher = Watcher(load_pipeline(path), now=lambda: clock[0])
    watcher.poll_once()
    put_sample(tmp_path, 3.0, "v1")
    put_sample(tmp_path, 4.0, "v2")
    (seen,) = watcher.poll_once()
    assert seen.event is None and "waiting 60 s" in seen.waiting
    clock[0] += 61
    (seen,) = watcher.poll_once()
    assert seen.event is not None and seen.event.key == "sample.csv:v2"
    assert watcher.poll_once()[0].event is None
    assert _triggered() == ["sample.csv:v2"]


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_schedule_ticks_with_an_injected_clock(tmp_path: Path) -> None:
    put_sample(tmp_path, 2.0, "v0")
    path = write_pipeline(
        tmp_path, {"on": {"nightly": {"schedule": "0 3 * * *", "overrides": LATEST}}}
    )
    clock = [_at("2026-12-01T02:59:00")]
    watcher = Watcher(load_pipeline(path), now=lambda: clock[0])
    (armed,) = watcher.poll_once()
    assert armed.event is not None and armed.event.key == "armed:2026-11-30T03:00:00Z"
    assert watcher.poll_once()[0].event is None

    clock[0] = _at("2026-12-01T03:00:30")
    (seen,) = watcher.poll_once()
    assert seen.event is not None and seen.event.key == "2026-12-01T03:00:00Z"
    assert seen.outcome is not None and seen.outcome.ok
    clock[0] = _at("2026-12-01T03:10:00")
    assert watcher.poll_once()[0].event is None

    clock[0] = _at("2026-12-01T09:00:00")  # restarted later the same day: nothing to do
    restarted = Watcher(load_pipeline(path), now=lambda: clock[0])
    assert restarted.poll_once()[0].event is None

    clock[0] = _at("2026-12-03T05:00:00")  # down over two ticks: the newest runs, once
    (seen,) = restarted.poll_once()
    assert seen.event is not None and seen.event.key == "2026-12-03T03:00:00Z"
    assert restarted.poll_once()[0].event is None
    assert _triggered() == ["2026-12-01T03:00:00Z", "2026-12-03T03:00:00Z"]
    # the second execution reused the first one's steps: the cache keeps a tick cheap
    newest = pipeline_runs()[0]
    assert newest.summary["steps_cached"] == 2


def test_drift_above_the_threshold_runs_once_per_model_version(tmp_path: Path) -> None:
    """A real drift check: two-sample KS per column of the model's training sample vs the
    newest sample, logged as a JSON report artifact that the trigger links in lineage."""
    from scipy.stats import ks_2samp

    from stepline.tracking.run import init

    api = Api()
    put_sample(tmp_path, 2.0, "v0")
    triggers = {
        "on": {
            "drifted": {"drift": "model:latest", "threshold": 0.4, "every": 60, "overrides": LATEST}
        },
    }
    path = write_pipeline(tmp_path, triggers)
    from stepline.pipeline.run import run_pipeline

    assert run_pipeline(load_pipeline(path, ["score.model=model:latest"])).ok
    checks: list[float] = []

    def columns(ref: str) -> dict[str, list[float]]:
        with open(api.artifact(ref, scope=None).file()) as f:
            rows = list(csv.DictReader(f))
        return {c: [float(r[c]) for r in rows] for c in rows[0]}

    def ks_drift(model_ref: str) -> tuple[float, str | None]:
        model = api.artifact(model_ref, scope=None)
        trained = next(a for a in model.logged_by().used_artifacts() if "sample.csv" in a.name)
        ref_cols = columns(f"demo/sample.csv:{trained.version}")
        cur_cols = columns("demo/sample.csv:latest")
        p = {c: float(ks_2samp(ref_cols[c], cur_cols[c]).pvalue) for c in ref_cols}
        share = sum(v < 0.05 for v in p.values()) / len(p)
        checks.append(share)
        run = init(project="demo", job_type="monitor", reinit="create_new")
        report = tmp_path / f"drift{len(checks)}.json"
        report.write_text(json.dumps({"model": model_ref, "pvalues": p, "share": share}))
        import stepline

        art = stepline.Artifact("drift_report.json", type="drift_report")
        art.add_file(str(report))
        run.log_artifact(art)
        run.finish()
        return share, f"demo/drift_report.json:{art.version}"

    clock = [1_000_000.0]
    watcher = Watcher(load_pipeline(path), now=lambda: clock[0], drift_check=ks_drift)
    (seen,) = watcher.poll_once()
    assert seen.event is None and checks == [0.0] and "<= 0.4" in seen.waiting
    put_sample(tmp_path, 2.0, "v1", noise=0.31)  # the same distribution
    assert watcher.poll_once()[0].event is None and checks == [0.0]  # `every` not yet over
    clock[0] += 61
    assert watcher.poll_once()[0].event is None and checks == [0.0, 0.0]

    put_sample(tmp_path, 9.0, "v2")  # y moved: one of two columns drifts
    clock[0] += 61
    (seen,) = watcher.poll_once()
    assert checks[-1] == 0.5
    assert seen.event is not None and seen.event.key == "model:v0"
    assert seen.outcome is not None and seen.outcome.ok
    execution = pipeline_runs()[0]
    assert execution.info["triggered_by"]["kind"] == "drift"
    used = [f"{a.name.split(':')[0]}:{a.version}" for a in execution.used_artifacts()]
    assert used == ["drift_report.json:v2"]
    # the retrained model is model:v1 now, so `model:latest` drifts no more
    clock[0] += 61
    (seen,) = watcher.poll_once()
    assert seen.event is None
    assert _triggered() == ["model:v0"]


def test_a_drift_check_that_fails_is_reported_and_the_watch_goes_on(tmp_path: Path) -> None:
    import stepline
    from stepline.tracking.run import init

    run = init(project="demo", job_type="upload", reinit="create_new")
    (tmp_path / "model.json").write_text("{}")
    art = stepline.Artifact("model", type="model_export")
    art.add_file(str(tmp_path / "model.json"))
    run.log_artifact(art)
    run.finish()
    path = write_pipeline(
        tmp_path,
        {
            "on": {
                "drifted": {"drift": "model:latest", "every": 1},
                "nightly": {"schedule": "0 3 * * *"},
            }
        },
    )

    def no_profile(model_ref: str) -> tuple[float, str | None]:
        Api().artifact("demo/model_profile.json:latest", scope=None)  # never logged
        return 1.0, None

    watcher = Watcher(load_pipeline(path), drift_check=no_profile)
    drifted, nightly = watcher.poll_once()
    assert drifted.event is None and drifted.waiting.startswith("error: ")
    assert "model_profile.json" in drifted.waiting
    assert nightly.event is not None and nightly.event.armed  # the other trigger still ran
