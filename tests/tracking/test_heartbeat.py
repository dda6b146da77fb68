"""Crash detection by heartbeat: a run whose process is gone is `crashed`, whatever its host or PID.

Each test starts a real process, kills it (or not) and edits the run's host, PID or heartbeat in
the real database, the way a container with a new hostname or a reused PID would leave them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import stepline
from stepline import backends
from stepline.errors import UsageError

SLEEPER = """
    import time, stepline
    run = stepline.init(project="p")
    print(run.id, flush=True)
    time.sleep(120)
"""


def killed_run() -> str:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SLEEPER)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.kill()
    proc.wait(timeout=30)
    return run_id


def edit(run_id: str, **fields: object) -> None:
    backends.get_backend().update_run(run_id, **fields)


def state(run_id: str) -> str:
    return str(stepline.Api().run(run_id).state)


def test_a_dead_run_from_another_host_is_crashed_once_its_heartbeat_is_stale() -> None:
    run_id = killed_run()
    stale = time.time() - 400  # older than the default threshold (300 s)
    edit(run_id, host="container-4f2a", heartbeat_at=stale)
    run = stepline.Api().run(run_id)
    assert run.state == "crashed"
    assert run.ended_at == pytest.approx(stale)  # the last sign of life
    assert backends.get_backend().get_run(run_id).state == "crashed"  # stored, not just shown


def test_a_reused_pid_does_not_keep_a_dead_run_running() -> None:
    run_id = killed_run()
    edit(run_id, pid=os.getpid(), heartbeat_at=time.time() - 400)  # a live, unrelated process
    assert state(run_id) == "crashed"


def test_a_recent_heartbeat_from_another_host_reads_as_running() -> None:
    run_id = killed_run()
    edit(run_id, host="container-4f2a", heartbeat_at=time.time() - 10)
    assert state(run_id) == "running"  # nothing says it died yet
    listed = stepline.Api().runs("p")
    assert [r.state for r in listed] == ["running"]


def test_the_threshold_is_settable(monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = killed_run()
    edit(run_id, host="container-4f2a", heartbeat_at=time.time() - 10)
    monkeypatch.setenv("STEPLINE_HEARTBEAT_TIMEOUT", "5")
    assert [r.state for r in stepline.Api().runs("p")] == ["crashed"]


def test_a_live_run_beats_its_heartbeat_and_survives_a_wrong_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPLINE_HEARTBEAT_TIMEOUT", "2.5")  # a live run beats every 0.5 s
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SLEEPER)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        edit(run_id, host="container-4f2a", heartbeat_at=time.time() - 60)
        assert state(run_id) == "crashed"  # silent for a minute: called crashed
        before = time.time()
        deadline = before + 30
        while state(run_id) != "running" and time.time() < deadline:
            time.sleep(0.2)
        run = stepline.Api().run(run_id)
        assert run.state == "running"  # its next beat says it is alive after all
        assert run.ended_at is None
        assert backends.get_backend().get_run(run_id).heartbeat_at >= before  # type: ignore[operator]
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_bad_threshold_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = killed_run()
    monkeypatch.setenv("STEPLINE_HEARTBEAT_TIMEOUT", "soon")
    with pytest.raises(UsageError, match=r"STEPLINE_HEARTBEAT_TIMEOUT='soon'.*seconds"):
        stepline.Api().run(run_id)
