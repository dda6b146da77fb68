"""gc of the team server's store (`POST /admin/gc`, `stepline server gc`): an object nothing
refers to is deleted; one a committed version refers to, and one under an upload lease (uploaded,
not yet committed), are kept; objects younger than the grace period are kept; only a server
admin's token may ask. On SQLite + `file://` objects and on PostgreSQL + SeaweedFS S3."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import Server

from stepline.backends.base import RunRecord
from stepline.backends.http import HttpBackend
from stepline.server.gc import UploadLeases
from stepline.server.store import open_store
from stepline.store.hashing import hash_bytes
from stepline.store.ingest import ingest
from stepline.store.manifest import Manifest


def _token(out: Any) -> str:
    assert out.returncode == 0, out.stderr
    return str(out.stdout.strip().splitlines()[-1].rsplit(" ", 1)[1])


@pytest.fixture(params=["sqlite-file", "postgres-s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    if request.param == "sqlite-file":
        return {"database": str(tmp_path / "server.sqlite"), "objects": f"file://{tmp_path}/o"}
    database = request.getfixturevalue("pg_database")
    seaweed = request.getfixturevalue("seaweed")
    for key, value in seaweed.items():
        monkeypatch.setenv(key, value)
    objects = f"s3://stepline/gc{uuid.uuid4().hex[:8]}"
    return {"database": database, "objects": objects, "env": seaweed}


def test_server_gc(store: dict[str, Any], servers: Callable[..., Server], tmp_path: Path) -> None:
    srv = servers(store["database"], store["objects"], env=store.get("env"))
    root, ana = f"root{uuid.uuid4().hex[:6]}", f"ana{uuid.uuid4().hex[:6]}"
    out = srv.cli("users", "add", root, "--admin", "--password-stdin",
                  "--database", srv.database, stdin="pw\n")  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = srv.cli("users", "add", ana, "--project", "team=write", "--password-stdin",
                  "--database", srv.database, stdin="pw\n")  # fmt: skip
    assert out.returncode == 0, out.stderr
    admin = _token(srv.cli("tokens", "create", "--user", root, "--role", "admin",
                           "--database", srv.database))  # fmt: skip
    writer = _token(srv.cli("tokens", "create", "--user", ana, "--project", "team",
                            "--role", "write", "--database", srv.database))  # fmt: skip

    client = HttpBackend(srv.url, token=writer, cache=tmp_path / "client")
    rec = client.create_run(RunRecord(id=f"r{uuid.uuid4().hex[:8]}", project="team", name="",
                                      group=None, job_type=None, state="running",
                                      created_at=time.time()))  # fmt: skip
    kept_file = tmp_path / "kept.txt"
    kept_file.write_bytes(b"in a committed version\n")
    entry = ingest(client.objects, [kept_file])[0]
    client.commit_version("team", "data", "dataset", Manifest({"kept.txt": entry}), None, {},
                          [], rec.id)  # fmt: skip
    leased = client.objects.put_bytes(b"uploaded, its version not committed yet\n")
    client.close()

    server_side = open_store(store["database"], store["objects"], tmp_path / "gc-state")
    orphan = server_side.objects.put_bytes(b"no version refers to this\n")
    assert server_side.objects.has(orphan) and server_side.objects.has(leased)

    def ask(token: str, **body: Any) -> httpx.Response:
        return httpx.post(f"{srv.url}/api/v1/admin/gc", json=body, timeout=120,
                          headers={"authorization": f"Bearer {token}"})  # fmt: skip

    refused = ask(writer, grace_seconds=0)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"
    assert server_side.objects.has(orphan)

    young = ask(admin)  # the default grace: the fresh orphan is kept, and counted
    assert young.status_code == 200, young.text
    assert young.json()["objects"] == 0 and young.json()["young_objects"] == 1
    assert server_side.objects.has(orphan)

    dry = ask(admin, grace_seconds=0, dry_run=True)
    assert dry.json()["objects"] == 1 and server_side.objects.has(orphan)

    done = ask(admin, grace_seconds=0)
    assert done.status_code == 200, done.text
    assert done.json()["objects"] == 1
    assert not server_side.objects.has(orphan)
    assert server_side.objects.has(entry.digest)  # a committed version's
    assert server_side.objects.has(leased)  # under its upload lease
    assert entry.digest != leased != orphan

    # on the server host, with the server's own flags
    another = server_side.objects.put_bytes(b"another orphan\n")
    server_side.close()
    out = srv.cli("server", "gc", "--database", srv.database, "--objects", store["objects"],
                  "--state-dir", str(tmp_path / "gc-state"), "--grace", "0")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("deleted 0 version(s), 1 object(s)"), out.stdout
    server_side = open_store(store["database"], store["objects"], tmp_path / "gc-state")
    assert not server_side.objects.has(another)
    assert server_side.objects.has(entry.digest) and server_side.objects.has(leased)
    assert hash_bytes(server_side.objects.get_bytes(leased)) == leased

    # a lease that has expired protects nothing (the upload was abandoned)
    UploadLeases(server_side.engine).add([leased], seconds=-1)
    server_side.close()
    done = ask(admin, grace_seconds=0)
    assert done.json()["objects"] == 1, done.text
    server_side = open_store(store["database"], store["objects"], tmp_path / "gc-state")
    assert not server_side.objects.has(leased) and server_side.objects.has(entry.digest)
    server_side.close()
