"""Objects between a client and a team server: only missing digests are sent (presigned S3 PUTs
or through the server), uploads are checked, and a version commits only once all of it is there."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import Server

from stepline.backends.base import RunRecord
from stepline.backends.http import HttpBackend
from stepline.errors import Conflict, CorruptObject, NotFound
from stepline.store.hashing import hash_bytes
from stepline.store.ingest import ingest
from stepline.store.manifest import Entry, Manifest


def _files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, size in enumerate((10, 1000, 6 << 20)):
        p = folder / f"f{i}.bin"
        p.write_bytes(os.urandom(size) if i == 2 else bytes([i]) * size)
        paths.append(p)
    return paths


def _commit(client: HttpBackend, project: str, name: str, paths: list[Path]) -> tuple[int, bool]:
    entries = ingest(client.objects, paths)
    manifest = Manifest({p.name: e for p, e in zip(paths, entries, strict=True)})
    version, created = client.commit_version(project, name, "dataset", manifest, None, {}, [], None)
    return version.version, created


def _dedup(tmp: Path, srv: Server, proxy: bool) -> None:
    project = f"p{uuid.uuid4().hex[:6]}"
    paths = _files(tmp / "data")
    first = HttpBackend(srv.url, cache=tmp / "cache-1")
    first.objects.proxy = proxy
    assert _commit(first, project, "data", paths) == (0, True)
    assert first.objects.sent_objects == 3
    assert first.objects.sent_bytes == sum(p.stat().st_size for p in paths)
    # another machine (an empty cache) with the same files: nothing is sent again
    second = HttpBackend(srv.url, cache=tmp / "cache-2")
    second.objects.proxy = proxy
    assert _commit(second, project, "copy", paths) == (0, True)
    assert _commit(second, project, "data", paths) == (0, False)
    assert second.objects.sent_objects == 0 and second.objects.sent_bytes == 0
    # and the bytes come back whole on a third machine
    third = HttpBackend(srv.url, cache=tmp / "cache-3")
    v = third.resolve(project, "copy", "latest")
    third.materialize(v.manifest, tmp / "out")
    for p in paths:
        assert (tmp / "out" / p.name).read_bytes() == p.read_bytes()
    for c in (first, second, third):
        c.close()


def test_second_upload_sends_nothing_files(tmp_path: Path, sqlite_server: Server) -> None:
    _dedup(tmp_path, sqlite_server, proxy=False)


def test_second_upload_sends_nothing_s3_presigned(tmp_path: Path, pg_s3_server: Server) -> None:
    answer = httpx.post(
        pg_s3_server.url + "/api/v1/objects/uploads", json={"oids": ["a" * 64]}
    ).json()
    assert answer["mode"] == "presigned"
    url = answer["urls"]["a" * 64]
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "AWSAccessKeyId" not in url
    _dedup(tmp_path, pg_s3_server, proxy=False)


def test_second_upload_sends_nothing_s3_proxied(tmp_path: Path, pg_s3_server: Server) -> None:
    _dedup(tmp_path, pg_s3_server, proxy=True)


def test_uploads_are_checked_and_versions_need_every_object(
    tmp_path: Path, servers: Callable[..., Server]
) -> None:
    srv = servers(auth=False)
    api = httpx.Client(base_url=srv.url + "/api/v1", timeout=30)
    good = b"the real bytes"
    oid = hash_bytes(good)
    resp = api.put(f"/objects/{oid}", content=b"other bytes")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "corrupt_object"
    assert api.post("/objects/missing", json={"oids": [oid]}).json()["missing"] == [oid]
    client = HttpBackend(srv.url, cache=tmp_path / "c")
    client.create_run(
        RunRecord(
            id="run1",
            project="p",
            name="",
            group=None,
            job_type=None,
            state="running",
            created_at=time.time(),
        )
    )
    # a manifest naming an object the server does not have: nothing is committed
    manifest = Manifest({"x.bin": Entry(oid, len(good))})
    body = {
        "project": "p",
        "name": "x",
        "type": "dataset",
        "manifest": manifest.to_json(),
        "aliases": [],
        "metadata": {},
        "run_id": "run1",
    }
    resp = api.post("/versions", json=body)
    assert resp.status_code == 409 and "not on the server" in resp.json()["error"]["message"]
    with pytest.raises(NotFound):
        client.list_versions("p", "x")
    # the right bytes go in; a manifest that lies about their size is refused
    assert api.put(f"/objects/{oid}", content=good).json() == {
        "oid": oid,
        "size": len(good),
        "created": True,
    }
    body["manifest"] = Manifest({"x.bin": Entry(oid, len(good) + 1)}).to_json()
    resp = api.post("/versions", json=body)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "corrupt_object"
    with pytest.raises(CorruptObject):
        client.commit_version(
            "p", "x", "dataset", Manifest({"x.bin": Entry(oid, 3)}), None, {}, [], None
        )
    body["manifest"] = manifest.to_json()
    assert api.post("/versions", json=body).json()["created"] is True
    assert [v.version for v in client.list_versions("p", "x")] == [0]
    with pytest.raises(Conflict):
        client.commit_version("p", "x", "model", manifest, None, {}, [], None)
    client.close()
