"""Capture over real HTTP on loopback: windows of profiles stored as artifacts, then monitored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import stepline
from stepline.backends import get_backend
from stepline.models import load
from stepline.models.serving import create_app, free_port, serve_in_thread
from stepline.monitor.capture import ArtifactSink, Capture
from stepline.monitor.runner import DRIFT_EXIT_CODE, run_monitor

from .conftest import listings

STEPLINE = str(Path(sys.executable).parent / "stepline")


def body(rows: pd.DataFrame) -> bytes:
    split = json.loads(rows.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split}).encode()


def post_rows(url: str, frame: pd.DataFrame, per_request: int = 1) -> None:
    with httpx.Client(base_url=url, headers={"Content-Type": "application/json"}) as client:
        for start in range(0, len(frame), per_request):
            resp = client.post(
                "/invocations", content=body(frame.iloc[start : start + per_request])
            )
            assert resp.status_code == 200, resp.text


def windows(name: str = "rf.capture") -> list:
    return stepline.Api().artifact_versions(f"shop/{name}")


def test_served_requests_become_profile_windows(logged_model: dict) -> None:
    backend = get_backend()
    capture = Capture(ArtifactSink(backend, "shop/rf:prod"), window_rows=50)
    app = create_app(load(logged_model["package"]), capture=capture)
    sent = listings(120, seed=21, shift=0.6)
    with serve_in_thread(app) as url:
        post_rows(url, sent.iloc[:60])  # 60 one-row requests
        post_rows(url, sent.iloc[60:], per_request=20)
        capture.close()
    found = windows()
    assert [v.metadata["rows"] for v in found] == [
        50,
        50,
        20,
    ]  # a window closes at the request that reaches 50 rows
    assert {v.type for v in found} == {"profile"}
    assert all(v.metadata["model"] == "shop/rf:v0" for v in found)
    assert found[0].files() == ["profile.json"]  # no raw rows unless asked
    profile = json.loads(Path(found[0].download(), "profile.json").read_text())
    expected = load(logged_model["package"]).predict(sent.iloc[:50])
    assert profile["columns"]["prediction"]["mean"] == pytest.approx(float(np.mean(expected)))
    assert profile["columns"]["minimum_nights"]["values"] == sorted(
        sent["minimum_nights"].iloc[:50].astype(float)
    )
    serve_run = found[0].logged_by()
    assert serve_run.job_type == "serve" and serve_run.state == "finished"
    assert [a.name for a in serve_run.used_artifacts()] == ["rf"]
    result = run_monitor(backend, "shop/rf:prod", window="last")
    assert result.current == "shop/rf.capture:v2" and result.report.current_rows == 20


def test_sampling_keeps_about_the_share_asked(logged_model: dict) -> None:
    kept: list = []
    capture = Capture(kept.append, sample=0.1, window_rows=10_000, seed=3)
    frame = listings(1, seed=0)
    for _ in range(2000):
        capture.offer(frame, np.zeros(1))
    capture.close()
    (window,) = kept
    assert 150 <= window.profile.rows <= 250 and window.requests == window.profile.rows


def test_requests_scored_together_are_counted_and_sampled_one_by_one() -> None:
    frame = listings(4, seed=0)  # three requests of 1, 1 and 2 rows, scored in one call
    parts = [np.zeros(1), np.ones(1), np.full(2, 2.0)]
    everything: list = []
    capture = Capture(everything.append, window_rows=100_000)
    for _ in range(100):
        capture.offer_batch(frame, parts)
    capture.close()
    (window,) = everything
    assert window.requests == 300 and window.profile.rows == 400
    sampled: list = []
    capture = Capture(sampled.append, sample=0.5, window_rows=100_000, seed=5)
    for _ in range(500):
        capture.offer_batch(frame, parts)
    capture.close()
    (window,) = sampled
    assert 650 <= window.requests <= 850 and 850 <= window.profile.rows <= 1150


def test_time_windows_close_without_more_requests() -> None:
    kept: list = []
    capture = Capture(kept.append, window_rows=1000, window_seconds=0.3)
    capture.offer(listings(5, seed=0), np.zeros(5))
    deadline = time.monotonic() + 10
    while not kept and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(kept) == 1 and kept[0].profile.rows == 5
    capture.close()


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


@pytest.mark.parametrize("workers", [1, 2])
def test_stepline_serve_capture_then_monitor(logged_model: dict, workers: int) -> None:
    port = free_port()
    cmd = [STEPLINE, "serve", "shop/rf:prod", "--port", str(port), "--env-manager", "local"]
    cmd += ["--capture", "--window-rows", "20", "--capture-rows", "--workers", str(workers)]
    proc = subprocess.Popen(
        cmd, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, proc)
        post_rows(url, listings(45, seed=30, shift=0.6), per_request=5)
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down: the partial window is stored
        proc.wait(60)
    found = windows()
    assert sum(v.metadata["rows"] for v in found) == 45, proc.stderr.read() if proc.stderr else ""
    rows = pd.read_csv(Path(found[0].download(), "rows.csv"))
    assert "prediction" in rows.columns and len(rows) == found[0].metadata["rows"]
    done = subprocess.run(
        [STEPLINE, "monitor", "shop/rf:prod", "--window", "last"],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=300,
    )
    assert done.returncode in (0, DRIFT_EXIT_CODE), done.stderr
