"""`stepline ui`: loopback by default, refuses other addresses without --allow-remote, prints its URL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import stepline

STEPLINE = [str(Path(sys.executable).parent / "stepline")]


def test_non_loopback_host_is_refused_without_the_flag() -> None:
    out = subprocess.run(
        [*STEPLINE, "ui", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "not a loopback address" in out.stderr and "--allow-remote" in out.stderr


def test_help_has_an_example() -> None:
    out = subprocess.run([*STEPLINE, "ui", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "Example: stepline ui" in out.stdout and "--allow-remote" in out.stdout


def test_it_serves_the_store_on_loopback(store: Path) -> None:
    with stepline.init(project="cli_ui", config={"lr": 0.1}) as run:
        run.log({"loss": 1.0})
    proc = subprocess.Popen(
        [*STEPLINE, "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        with urllib.request.urlopen(m[0] + "projects/cli_ui.json", timeout=30) as resp:
            data = json.load(resp)
        assert data["total"] == 1 and data["runs"][0]["id"] == run.id
        with urllib.request.urlopen(m[0], timeout=30) as resp:
            assert b"cli_ui" in resp.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
