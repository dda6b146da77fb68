"""A damaged stat cache, a damaged metadata database, and a store on a read-only mount."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import stepline
from stepline import backends
from stepline.errors import SteplineWarning

STEPLINE = str(Path(sys.executable).parent / "stepline")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPLINE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def _log(tmp_path: Path) -> None:
    src = tmp_path / "src" / "table.csv"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("a,b\n1,2\n")
    with stepline.init(project="p", reinit="create_new") as run:
        art = stepline.Artifact("table.csv", type="data")
        art.add_file(src)
        run.log_artifact(art)
    backends.reset()


def test_a_damaged_stat_cache_is_rebuilt_with_a_warning(tmp_path: Path) -> None:
    _log(tmp_path)
    cache = tmp_path / "cache" / "statcache.sqlite"
    assert cache.exists()
    cache.write_bytes(b"this is not a database, it is garbage" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    with pytest.warns(SteplineWarning, match="stat cache .*statcache.sqlite.* damaged"):
        backends.get_backend().objects  # noqa: B018 (opened on first use)
    backends.reset()
    cache.write_bytes(b"garbage again" * 100)
    for cmd in (["fsck"], ["artifacts", "ls"], ["artifacts", "get", "p/table.csv:v0"]):
        done = _cli(*cmd)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    first = _cli("fsck")  # the cache is whole again: no more warnings
    assert "warning" not in first.stderr


def test_a_damaged_stat_cache_warns_once_in_the_cli(tmp_path: Path) -> None:
    _log(tmp_path)
    (tmp_path / "cache" / "statcache.sqlite").write_bytes(b"\x00garbage" * 512)
    done = _cli("fsck")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning: the stat cache") == 1, done.stderr
    assert "clean" in done.stdout


def test_a_damaged_metadata_database_is_a_clear_error(tmp_path: Path, store: Path) -> None:
    _log(tmp_path)
    db = store / "stepline.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"garbage where a database was" * 200)
    for cmd in (["artifacts", "ls"], ["fsck"], ["runs", "ls", "--project", "p"]):
        done = _cli(*cmd)
        assert done.returncode == 1, (cmd, done.stderr)
        assert "Traceback" not in done.stderr
        assert str(db) in done.stderr and "damaged" in done.stderr, done.stderr
        assert ".recover" in done.stderr  # says what to do


def test_a_database_damaged_inside_is_a_clear_error(tmp_path: Path, store: Path) -> None:
    _log(tmp_path)
    db = store / "stepline.db"
    data = bytearray(db.read_bytes())
    page = 4096
    for i in range(page * 2, len(data)):  # keep the header, wipe the tables' pages
        data[i] = 0xA5
    db.write_bytes(bytes(data))
    done = _cli("artifacts", "ls")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and str(db) in done.stderr, done.stderr


@pytest.fixture
def read_only_store(tmp_path: Path, store: Path) -> Iterator[Path]:
    """The test's store, seen through a read-only bind mount (needs root; skipped otherwise)."""
    _log(tmp_path)
    mount = Path(f"/tmp/stepline-ro-{uuid.uuid4().hex[:8]}")
    mount.mkdir()
    bind = subprocess.run(["mount", "--bind", str(store), str(mount)], capture_output=True)
    if bind.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot bind-mount (needs root): {bind.stderr.decode().strip()}")
    try:
        ro = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True, check=False
        )
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only: {ro.stderr.decode().strip()}")
        probe = subprocess.run(["touch", str(mount / "probe")], capture_output=True)
        assert probe.returncode != 0, "the mount is not read-only"
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


def test_a_store_on_a_read_only_mount_can_be_read(read_only_store: Path, tmp_path: Path) -> None:
    env = {"STEPLINE_DIR": str(read_only_store)}
    ls = _cli("artifacts", "ls", env=env)
    assert ls.returncode == 0, ls.stderr
    assert "table.csv" in ls.stdout
    get = _cli("artifacts", "get", "p/table.csv:v0", "--root", str(tmp_path / "out"), env=env)
    assert get.returncode == 0, get.stderr
    assert (tmp_path / "out" / "table.csv").read_text() == "a,b\n1,2\n"
    check = _cli("fsck", env=env)
    assert check.returncode == 0, check.stderr
    assert "clean" in check.stdout
    runs = _cli("runs", "ls", "--project", "p", env=env)
    assert runs.returncode == 0, runs.stderr
    for done in (ls, get, check, runs):
        assert "Traceback" not in done.stderr


def test_writing_to_a_read_only_store_says_so(read_only_store: Path, tmp_path: Path) -> None:
    (tmp_path / "new.csv").write_text("x\n")
    put = _cli(
        "artifacts",
        "put",
        str(tmp_path / "new.csv"),
        "--name",
        "p/new.csv",
        "--type",
        "data",
        env={"STEPLINE_DIR": str(read_only_store)},
    )
    assert put.returncode == 1, put.stderr
    assert "Traceback" not in put.stderr and "read-only" in put.stderr, put.stderr
