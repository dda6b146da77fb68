"""gc and drafts: objects a draft refers to survive gc until it is committed; temp files and
leases of dead writers go at the next write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stepline
from stepline.backends import get_backend
from stepline.backends.fsck import fsck
from stepline.backends.gc import gc
from stepline.errors import StoreError
from stepline.store import writers
from stepline.store.hashing import hash_bytes


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _log(name: str, path: Path) -> stepline.Artifact:
    with stepline.init(project="p", reinit="create_new") as run:
        art = stepline.Artifact(name, type="data")
        art.add_file(path, name="f.bin")
        run.log_artifact(art)
    return art


def test_gc_leaves_the_objects_of_a_draft_alone(tmp_path: Path) -> None:
    shared = _write(tmp_path / "shared.bin", b"re-used content")
    _log("a", shared)  # a:v0 holds the object
    _log("a", _write(tmp_path / "other.bin", b"newer content"))  # latest moves to a:v1
    draft = stepline.Artifact("b", type="data")
    draft.add_file(shared, name="f.bin")  # re-uses a:v0's object
    report = gc(get_backend(), keep_last=1, grace_seconds=0)  # a:v0 goes, its object would too
    assert report.versions == ["p/a:v0"]
    assert get_backend().objects.has(hash_bytes(b"re-used content"))  # type: ignore[attr-defined]
    with stepline.init(project="p", reinit="create_new") as run:
        run.log_artifact(draft)
    assert fsck(get_backend()).clean
    got = stepline.Api().artifact("p/b:v0").download(tmp_path / "dl")
    assert (Path(got) / "f.bin").read_bytes() == b"re-used content"
    gc(get_backend(), grace_seconds=0)  # committed now: referenced by b:v0, the lease is gone
    assert not any((get_backend().root / "leases").iterdir())  # type: ignore[attr-defined]
    assert fsck(get_backend()).clean


def test_a_commit_refuses_objects_that_are_gone(tmp_path: Path) -> None:
    draft = stepline.Artifact("b", type="data")
    draft.add_file(_write(tmp_path / "x.bin", b"soon gone"), name="x.bin")
    objects = get_backend().objects  # type: ignore[attr-defined]
    objects.delete(hash_bytes(b"soon gone"))  # lost whatever the cause (a disk, a hand)
    run = stepline.init(project="p", reinit="create_new")
    with pytest.raises(StoreError, match=r"'x\.bin'.*no longer in.*nothing was committed"):
        run.log_artifact(draft)
    run.finish()
    assert [a.name for a in get_backend().list_artifacts("p")] == []


def _killed_writer(tmp_path: Path) -> int:
    """A process that stages objects and holds a lease, killed with SIGKILL before committing."""
    code = textwrap.dedent(
        f"""
        import os, sys, time, stepline
        from pathlib import Path
        art = stepline.Artifact("big", type="data")
        src = Path({str(tmp_path)!r}) / "payload.bin"
        src.write_bytes(os.urandom(1 << 20))
        art.add_file(src)
        store = stepline.Api().backend.objects
        store.stage(src)  # a temp file as a write interrupted mid-way leaves it
        print(os.getpid(), flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    os.kill(pid, signal.SIGKILL)
    proc.wait()
    return pid


def test_temp_files_and_leases_of_a_killed_writer_go_at_the_next_write(tmp_path: Path) -> None:
    objects = get_backend().objects  # type: ignore[attr-defined]
    pid = _killed_writer(tmp_path)
    left = sorted(p.name for p in objects.tmp.iterdir())
    assert left and all(writers.owner(n) == (writers.host(), pid) for n in left)
    assert any(objects.leases.iterdir())
    foreign = objects.tmp / "otherhost.4242.0123456789abcdef"  # may be a live write elsewhere
    foreign.write_bytes(b"partial")
    _log("next", _write(tmp_path / "n.bin", b"the next write"))  # a fresh process would do this
    assert [p.name for p in objects.tmp.iterdir()] == [foreign.name]
    assert not any(objects.leases.iterdir())
    assert fsck(get_backend()).clean


def test_gc_does_not_remove_the_temp_files_of_a_live_writer(tmp_path: Path) -> None:
    objects = get_backend().objects  # type: ignore[attr-defined]
    staged = objects.stage(_write(tmp_path / "s.bin", b"being written"))
    os.utime(staged, (1, 1))  # however old it looks
    assert gc(get_backend(), grace_seconds=0).tmp_files == 0
    assert staged.exists()


def test_gc_running_all_the_time_never_breaks_a_version(tmp_path: Path) -> None:
    """Two writers re-log the same few contents while gc (grace 0, keep-last 1) runs in a loop."""
    writer = textwrap.dedent(
        """
        import sys, stepline
        from pathlib import Path
        me, folder = sys.argv[1], Path(sys.argv[2])
        for j in range(15):
            f = folder / f"{me}-{j}.bin"
            f.write_bytes(f"content {j % 3}".encode())  # three contents, re-used over and over
            with stepline.init(project="p", reinit="create_new") as run:
                art = stepline.Artifact(f"a{me}", type="data")
                art.add_file(f, name="f.bin")
                run.log_artifact(art)
        """
    )
    collector = textwrap.dedent(
        """
        import time, stepline
        from stepline.backends.gc import gc
        backend = stepline.Api().backend
        deadline = time.time() + 120
        while time.time() < deadline:
            gc(backend, keep_last=1, grace_seconds=0)
            if (backend.root / "stop").exists():
                break
        """
    )
    gc_proc = subprocess.Popen([sys.executable, "-c", collector])
    writers_ = [
        subprocess.Popen(
            [sys.executable, "-c", writer, str(i), str(tmp_path)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for w in writers_:
        _, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
    (get_backend().root / "stop").touch()  # type: ignore[attr-defined]
    gc_proc.wait(timeout=180)
    report = fsck(get_backend())
    assert report.clean, (report.missing, report.corrupt)
    for name in ("a0", "a1"):
        latest = stepline.Api().artifact(f"p/{name}:latest")
        assert (Path(latest.download(tmp_path / name)) / "f.bin").read_bytes() == b"content 2"
