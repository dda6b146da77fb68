"""`stepline monitor` as a user runs it: a subprocess, its exit codes, its run and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.backends import get_backend
from stepline.monitor.runner import DRIFT_EXIT_CODE, run_monitor

from .conftest import listings

STEPLINE = str(Path(sys.executable).parent / "stepline")


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPLINE, "monitor", *args], capture_output=True, text=True, env=os.environ, timeout=300
    )


def test_export_logs_a_reference_profile_linked_to_data_and_model(logged_model: dict) -> None:
    api = stepline.Api()
    (profile,) = api.artifacts(type_name="profile")
    assert profile.name == "rf.profile"
    assert profile.metadata["model"] == "shop/rf:v0"
    assert profile.metadata["training_data"] == ["shop/train.csv:v0"]
    producer = profile.logged_by()
    assert producer.id == logged_model["run_id"]
    assert [a.qualified_name for a in producer.used_artifacts()] == ["shop/train.csv:v0"]
    assert {a.name for a in producer.logged_artifacts()} == {"rf", "rf.profile"}
    body = json.loads(Path(profile.download(), "profile.json").read_text())
    assert body["rows"] == 3000 and "prediction" in body["columns"]


def test_drifted_rows_exit_3_and_log_a_monitor_run(logged_model: dict, tmp_path: Path) -> None:
    rows = tmp_path / "new.csv"
    listings(2000, seed=7, shift=0.6).assign(price=1.0).to_csv(rows, index=False)
    done = monitor("shop/rf:prod", "--file", str(rows), "--json")
    assert done.returncode == DRIFT_EXIT_CODE, done.stderr
    out = json.loads(done.stdout)
    assert out["drifted"] and out["share"] == 1.0 and out["exit_code"] == DRIFT_EXIT_CODE
    assert out["prediction"]["drifted"]
    run = stepline.Api().run(out["run"])
    assert run.job_type == "monitor" and run.state == "finished"
    assert run.summary["dataset_drift"] is True
    assert {a.name for a in run.used_artifacts()} == {"rf", "rf.profile"}
    (report,) = run.logged_artifacts()
    assert report.type == "drift_report" and report.qualified_name == out["report"]
    html = Path(report.download(), "report.html").read_text()
    assert "Dataset drift detected" in html and "<script" not in html and "http" not in html
    assert {m.key for m in run.media()} >= {"drift"}


def test_rows_like_the_training_data_exit_0(logged_model: dict, tmp_path: Path) -> None:
    rows = tmp_path / "same.csv"
    listings(2000, seed=8).to_csv(rows, index=False)
    done = monitor("shop/rf:prod", "--file", str(rows))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no dataset drift" in done.stdout


def test_threshold_and_errors_have_their_own_exit_codes(logged_model: dict, tmp_path: Path) -> None:
    rows = tmp_path / "one.csv"
    frame = listings(2000, seed=9)
    frame["reviews_per_month"] += 3
    frame.to_csv(rows, index=False)
    assert monitor("shop/rf:prod", "--file", str(rows)).returncode == 0  # 1 of 3 < 50 %
    assert (
        monitor("shop/rf:prod", "--file", str(rows), "--threshold", "0.3").returncode
        == DRIFT_EXIT_CODE
    )
    no_window = monitor("shop/rf:prod", "--window", "last")
    assert no_window.returncode == 3 and "no capture window" in no_window.stderr  # not found
    assert monitor("shop/rf:prod").returncode == 2  # neither --current, --window nor --file
    assert monitor("shop/nothing:prod", "--file", str(rows)).returncode == 3  # not found


def test_a_table_artifact_as_current_is_used_by_the_run(logged_model: dict, tmp_path: Path) -> None:
    rows = tmp_path / "batch.csv"
    listings(1500, seed=10, shift=0.6).to_csv(rows, index=False)
    with stepline.init(project="shop", job_type="collect") as run:
        art = stepline.Artifact("batch.csv", type="dataset")
        art.add_file(str(rows))
        run.log_artifact(art)
    result = run_monitor(get_backend(), "shop/rf:prod", "shop/batch.csv:latest")
    assert result.exit_code == DRIFT_EXIT_CODE
    used = stepline.Api().run(f"shop/{result.run_id}").used_artifacts()
    assert "batch.csv" in {a.name for a in used}


def test_a_package_without_reference_is_refused(tmp_path: Path) -> None:
    from stepline import models

    from .conftest import fit

    frame = listings(300, seed=1)
    package = models.save(fit(frame), tmp_path / "bare", input_example=frame.iloc[:2])
    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)
    done = monitor(str(package), "--file", str(rows))
    assert done.returncode == 3 and "reference_data" in done.stderr  # not found
    with pytest.raises(stepline.SteplineError):
        run_monitor(get_backend(), str(package), file=rows)
