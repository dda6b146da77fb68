"""The team server killed with SIGKILL in the middle of uploads (PostgreSQL + SeaweedFS S3, objects
sent through the server), restarted on the same port while the clients keep retrying.

Right after the kill and again once every client is through, the server's store has no half
version: `fsck` on the server's backend is clean, and each client's artifact has exactly one
version holding all its files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.server.conftest import Server, start_server, stop

from stepline.backends.fsck import fsck
from stepline.server.store import open_store

CLIENTS = 4
FILES = 3
SIZE = 8 * 1024 * 1024

CLIENT = """
import os, sys, time
from pathlib import Path
from stepline import errors
from stepline.backends.base import RunRecord
from stepline.backends.http import HttpBackend
from stepline.store.ingest import ingest
from stepline.store.manifest import Manifest

url, i, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
paths = []
for k in range(files):
    p = Path(f"part{k}.bin")
    p.write_bytes(os.urandom(size))
    paths.append(p)
client = HttpBackend(url, cache=Path("cache"))
deadline = time.monotonic() + 180
tries = 0
while True:  # the server may die at any point: staging asks it what it lacks, too
    tries += 1
    try:
        entries = ingest(client.objects, paths)
        manifest = Manifest({p.name: e for p, e in zip(paths, entries)})
        version, created = client.commit_version(
            "crash", f"blob{i}", "dataset", manifest, None, {}, [], None
        )
        break
    except (errors.SteplineError, OSError) as exc:
        if time.monotonic() > deadline:
            raise
        print("retry", type(exc).__name__, str(exc)[:120], flush=True)
        time.sleep(0.3)
        client.close()
print("done", version.id, version.digest, tries, flush=True)
"""


def _clean(database: str, objects: str, state: Path, env: dict[str, str]) -> None:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        backend = open_store(database, objects, state)
        report = fsck(backend)
        assert report.clean, report
        versions = [v for v in backend.iter_versions() if v.project == "crash"]
        for v in versions:  # every committed version is whole
            assert v.file_count == FILES and v.size == FILES * SIZE, v
        backend.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_sigkill_during_uploads_leaves_no_half_version(
    tmp_path: Path, pg_url: str, seaweed: dict[str, str]
) -> None:
    objects = f"s3://stepline/{uuid.uuid4().hex[:8]}"
    pg_database = pg_url  # a database of its own: fsck checks every version in it
    srv: Server = start_server(tmp_path, pg_database, objects, seaweed, auth=False)
    port = int(srv.url.rsplit(":", 1)[1])
    state = tmp_path / "server-state"
    (tmp_path / "client.py").write_text(CLIENT)
    procs = []
    for i in range(CLIENTS):
        work = tmp_path / f"c{i}"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPLINE_", "AWS_"))}
        env.update(STEPLINE_UPLOAD_VIA_SERVER="1", STEPLINE_CACHE_DIR=str(work / "cache"))
        cmd = [sys.executable, str(tmp_path / "client.py"), srv.url, str(i), str(FILES), str(SIZE)]
        procs.append(
            subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    restarted: Server | None = None
    try:
        # kill the server once it is writing uploads to its temp folder
        deadline = time.monotonic() + 120
        uploads = state / "tmp"
        while time.monotonic() < deadline:
            if uploads.is_dir() and any(uploads.glob("stepline-upload-*")):
                break
            assert all(p.poll() is None for p in procs), "a client ended before the kill"
            time.sleep(0.01)
        else:
            raise AssertionError("no upload reached the server in 120 s")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        _clean(pg_database, objects, state, seaweed)
        time.sleep(1.0)  # the clients see a dead server for a while
        restarted = start_server(tmp_path, pg_database, objects, seaweed, auth=False, port=port)
        outs = []
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err.decode()[-2000:]
            outs.append(out.decode())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        if restarted is not None:
            stop(restarted.proc)
    retried = sum("retry" in o for o in outs)
    print(f"\nkill: {retried} of {CLIENTS} clients retried; "
          + "; ".join(o.strip().splitlines()[-1] for o in outs))  # fmt: skip
    assert retried >= 1
    _clean(pg_database, objects, state, seaweed)
    saved = {k: os.environ.get(k) for k in seaweed}
    os.environ.update(seaweed)
    try:
        backend = open_store(pg_database, objects, state)
        for i in range(CLIENTS):
            versions = backend.list_versions("crash", f"blob{i}")
            assert len(versions) == 1, versions
            assert sorted(versions[0].manifest.entries) == [f"part{k}.bin" for k in range(FILES)]
        backend.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
