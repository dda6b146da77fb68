"""Crashes, kills, concurrent writers and corruption, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import stepline
from stepline.backends.fsck import fsck
from stepline.errors import CorruptObject


def run_script(code: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )  # type: ignore[call-overload]


def test_uncaught_exception_marks_the_run_crashed() -> None:
    proc = run_script("""
        import stepline
        run = stepline.init(project="p", job_type="boom")
        run.log({"x": 1})
        print(run.id, flush=True)
        raise RuntimeError("kaput")
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "kaput" in err
    run = stepline.Api().run(out.strip())
    assert run.state == "crashed"
    assert run.history()[0]["x"] == 1  # logged before the crash: kept


def test_sigterm_marks_the_run_crashed() -> None:
    proc = run_script("""
        import time, stepline
        run = stepline.init(project="p")
        print(run.id, flush=True)
        time.sleep(60)
    """)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert stepline.Api().run(run_id).state == "crashed"


def test_metrics_survive_sigkill_up_to_the_last_second() -> None:
    proc = run_script("""
        import time, stepline
        run = stepline.init(project="p")
        print(run.id, flush=True)
        for i in range(1000):
            run.log({"i": i})
        print("logged", flush=True)
        time.sleep(60)
    """)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "logged"
    time.sleep(1.5)  # more than the flush interval
    proc.kill()
    proc.wait(timeout=30)
    run = stepline.Api().run(run_id)
    assert run.state == "crashed"
    assert len(run.history()) == 1000


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.6])
def test_sigkill_during_log_artifact_leaves_no_half_version(tmp_path: Path, delay: float) -> None:
    data = tmp_path / "data"
    proc = run_script(f"""
        import os, stepline
        from pathlib import Path
        data = Path({str(data)!r})
        run = stepline.init(project="p", job_type="writer")
        print(run.id, flush=True)
        for i in range(10_000):
            data.mkdir(exist_ok=True)
            for j in range(20):
                (data / f"f{{j}}.bin").write_bytes(os.urandom(200_000))
            art = stepline.Artifact("blob", "data")
            art.add_dir(data)
            run.log_artifact(art)
    """)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=30)
    from stepline import backends

    backend = backends.get_backend()
    report = fsck(backend)
    assert report.clean, (report.corrupt, report.missing)
    versions = backend.list_versions("p", "blob") if backend.list_artifacts("p") else []
    assert [v.version for v in versions] == list(range(len(versions)))
    for v in versions:
        assert v.file_count == 20
        for entry in v.manifest.entries.values():
            assert backend.objects.has(entry.digest)
    assert stepline.Api().run(run_id).state == "crashed"


def test_eight_processes_logging_versions_at_once(tmp_path: Path) -> None:
    per_process = 6
    code = """
        import sys, stepline
        from pathlib import Path
        me = int(sys.argv[1])
        run = stepline.init(project="p", job_type="writer")
        for j in range({n}):
            f = Path(sys.argv[2]) / f"w{me}-{j}.txt"
            f.write_text(f"writer {me} iteration {j}")
            art = stepline.Artifact("shared", "data")
            art.add_file(f, name="content.txt")
            run.log_artifact(art)
        run.finish()
    """.replace("{n}", str(per_process))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(i), str(tmp_path)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    versions = stepline.Api().backend.list_versions("p", "shared")
    assert [v.version for v in versions] == list(range(8 * per_process))
    assert len({v.digest for v in versions}) == 8 * per_process


def test_a_flipped_byte_is_found_by_download_and_fsck(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"0123456789" * 100)
    with stepline.init(project="p") as run:
        a = stepline.Artifact("x", "data")
        a.add_file(f)
        run.log_artifact(a)
    backend = stepline.Api().backend
    path = backend.objects.path(a.get_entry("x.bin").digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.seek(500)
        fh.write(b"X")
    with pytest.raises(CorruptObject, match="corrupt"):
        stepline.Api().artifact("p/x:v0").download(tmp_path / "out")
    report = fsck(backend)
    assert not report.clean
    assert report.corrupt == [str(path)]
    assert report.damaged_versions == ["p/x:v0"]
