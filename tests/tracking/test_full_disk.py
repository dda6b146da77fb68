"""A full disk under the store: metrics are kept and retried, and a loss is never silent.

The store sits on a real 2 MB tmpfs, filled with a ballast file. Mounting needs root (or
CAP_SYS_ADMIN); without it the tests are skipped with the reason printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import stepline
from stepline import backends
from stepline.errors import MetricsLost


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted at tmp_path/disk (unmounted afterwards)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {done.stderr.strip() or done.returncode}"
        print(f"\nSKIP full-disk tests: {reason}")
        pytest.skip(reason)
    try:
        yield mount
    finally:
        backends.reset()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the filesystem to the last byte with one ballast file."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as f:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                continue
    return ballast


def use_store(disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPLINE_DIR", str(disk / ".stepline"))
    backends.reset()


def test_points_logged_while_the_disk_is_full_are_written_once_there_is_room(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_store(small_disk, monkeypatch)
    run = stepline.init(project="p")
    run.log({"i": -1})
    run._history.flush()
    ballast = fill(small_disk)
    for i in range(1781):
        run.log({"i": i, "note": "x" * 100})
    time.sleep(1.2)  # the flusher tries (and fails) at least twice
    assert run._history.pending > 0
    ballast.unlink()
    run.finish()
    stored = stepline.Api().run(run.id)
    assert stored.state == "finished"
    assert [row["i"] for row in stored.history()] == list(range(-1, 1781))
    assert "lost_points" not in stored.info


def test_points_that_cannot_be_written_fail_the_run_and_are_counted(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_store(small_disk, monkeypatch)
    run = stepline.init(project="p")
    for i in range(437):
        run.log({"i": i})
    run._history.flush()
    ballast = fill(small_disk)
    for i in range(437, 1781):
        run.log({"i": i, "note": "x" * 100})
    with pytest.raises(MetricsLost, match=r"1,344 of 1,781 metric points") as caught:
        run.finish()
    assert caught.value.code == "metrics_lost"
    ballast.unlink()  # only so this test can read the store back through a fresh engine
    backends.reset()
    stored = stepline.Api().run(run.id)
    assert stored.state == "failed"
    assert stored.info["lost_points"] == 1344
    assert stored.info["logged_points"] == 1781
    assert "full" in stored.info["lost_reason"]
    assert len(stored.history()) == 437


def test_a_script_on_a_full_disk_says_so_and_its_run_fails(small_disk: Path) -> None:
    store = small_disk / ".stepline"
    code = textwrap.dedent(f"""
        import stepline, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_full_disk import fill
        from pathlib import Path
        run = stepline.init(project="p")
        print(run.id, flush=True)
        run.log({{"i": 0}})
        run._history.flush()
        fill(Path({str(small_disk)!r}))
        for i in range(1, 500):
            run.log({{"i": i}})
    """)
    env = {**os.environ, "STEPLINE_DIR": str(store)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert "499 of 500 metric points" in done.stderr, done.stderr
    (small_disk / "ballast").unlink()
    run_id = done.stdout.strip()
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "stepline"), "runs", "show", run_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "state: failed" in shown.stdout
    assert "lost 499 of 500 metric points" in shown.stdout
