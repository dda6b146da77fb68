"""`stepline watch` and `stepline component test` as a user runs them: real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("croniter")

from .helpers import pipeline_runs, put_sample, write_pipeline

STEPLINE = [str(Path(sys.executable).parent / "stepline")]


def _stepline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STEPLINE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=os.environ
    )


def test_watch_once_dry_run_prints_and_runs_nothing(tmp_path: Path) -> None:
    put_sample(tmp_path, 2.0, "v0")
    triggers = {
        "on": {"new_sample": {"artifact": "sample.csv", "overrides": ["score.model=model:latest"]}}
    }
    path = write_pipeline(tmp_path, triggers)
    dry = _stepline("watch", str(path), "--once", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "new_sample: would arm at v0 (no run)" in dry.stdout
    armed = _stepline("watch", str(path), "--once", cwd=tmp_path)
    assert armed.returncode == 0, armed.stderr
    assert "new_sample: armed at v0" in armed.stdout

    put_sample(tmp_path, 3.0, "v1")
    dry = _stepline("watch", str(path), "--once", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would run the pipeline for new_sample (artifact: sample.csv:v1)" in dry.stdout
    assert pipeline_runs() == []  # a dry run runs nothing

    real = _stepline("watch", str(path), "--once", cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert "new_sample: sample.csv:v1: execution" in real.stdout and "finished" in real.stdout
    assert len(pipeline_runs()) == 1
    again = _stepline("watch", str(path), "--once", cwd=tmp_path)
    assert again.returncode == 0 and "execution" not in again.stdout
    assert len(pipeline_runs()) == 1

    # a triggered execution that fails makes `watch --once` exit 1 (for cron and CI)
    (tmp_path / "components" / "train" / "run.py").write_text("raise SystemExit(4)\n")
    put_sample(tmp_path, 4.0, "v2")
    failed = _stepline("watch", str(path), "--once", cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "sample.csv:v2: execution" in failed.stdout and "failed" in failed.stdout


def test_watch_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    put_sample(tmp_path, 2.0, "v0")
    path = write_pipeline(tmp_path, {"on": {"nightly": {"schedule": "0 3 * * *"}}})
    proc = subprocess.Popen(
        [*STEPLINE, "watch", str(path), "--interval", "0.2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first poll arms the schedule
        assert "nightly: armed at" in line
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "watch stopped" in err


def _component_with_tests(root: Path, name: str, test_body: str) -> Path:
    d = root / name
    d.mkdir()
    (d / "MLproject").write_text(
        yaml.safe_dump({"name": name, "entry_points": {"main": {"command": "python run.py"}}})
    )
    (d / "run.py").write_text("def total(xs):\n    return sum(xs)\n")
    (d / "test_run.py").write_text(
        "import sys\nfrom run import total\n\n"
        "def test_total():\n"
        f"    {test_body}\n\n"
        "def test_interpreter():\n"
        "    print('python', sys.executable)\n"
    )
    return d


def test_component_test_passes_and_fails_with_pytest_exit_code(tmp_path: Path) -> None:
    good = _component_with_tests(tmp_path, "good", "assert total([1, 2]) == 3")
    bad = _component_with_tests(tmp_path, "bad", "assert total([1, 2]) == 4")
    ok = _stepline("component", "test", str(good), "--", "-q", "-s", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 passed" in ok.stdout
    failed = _stepline("component", "test", str(bad), "--", "-q", cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 failed, 1 passed" in failed.stdout
    only = _stepline("component", "test", str(bad), "--", "-q", "-k", "interpreter", cwd=tmp_path)
    assert only.returncode == 0 and "1 passed" in only.stdout


def test_an_event_cut_short_by_sigint_runs_again(tmp_path: Path) -> None:
    from stepline.tracking.api import Api

    put_sample(tmp_path, 2.0, "v0")
    comp = tmp_path / "slow"
    comp.mkdir()
    (comp / "MLproject").write_text(
        yaml.safe_dump(
            {
                "name": "slow",
                "entry_points": {"main": {"command": "python run.py"}},
            }
        )
    )
    (comp / "run.py").write_text(
        "import os, time, stepline\n"
        "run = stepline.init()\n"
        "run.use_artifact('sample.csv:latest')\n"
        "time.sleep(0 if os.path.exists('../fast') else 60)\n"
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "name: slowpipe\nproject: demo\nsteps:\n"
        "  slow: {component: slow, inputs: ['sample.csv:latest']}\n"
        "triggers:\n  on:\n    new_sample: {artifact: sample.csv}\n"
    )
    assert _stepline("watch", "--once", cwd=tmp_path).returncode == 0  # arms
    put_sample(tmp_path, 3.0, "v1")
    proc = subprocess.Popen(
        [*STEPLINE, "watch", "--interval", "0.2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("running slowpipe"):
                break
        time.sleep(3)  # the step is sleeping now
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        assert time.monotonic() - started < 30
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    (record,) = Api().runs(
        "demo", filters={"job_type": "trigger", "info.trigger_event": "sample.csv:v1"}
    )
    assert record.state == "failed" and record.info["decision"]["interrupted"] is True

    (tmp_path / "fast").write_text("")
    again = _stepline("watch", "--once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "new_sample: sample.csv:v1: execution" in again.stdout and "finished" in again.stdout
