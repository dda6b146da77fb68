"""Big objects between a client and a team server on S3 (SeaweedFS): multipart uploads of
presigned parts, resumed after the client is killed, completed only when every part is whole,
abandoned ones aborted; downloads from presigned GET URLs, checked, or through the server."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import Server, free_port, remote

import stepline
from stepline import backends
from stepline.backends.http import HttpBackend
from stepline.errors import CorruptObject
from stepline.store.hashing import hash_bytes, hash_file
from stepline.store.ingest import ingest
from stepline.store.manifest import Manifest

MiB = 1 << 20
#: small parts for quick tests (S3's least part size); the default threshold stays 64 MiB
SMALL = {"STEPLINE_MULTIPART_THRESHOLD": "8MiB", "STEPLINE_MULTIPART_PART_SIZE": "5MiB"}


@pytest.fixture
def s3_server(
    servers: Callable[..., Server], pg_database: str, seaweed: dict[str, str]
) -> Iterator[Callable[..., tuple[Server, str]]]:
    """`s3_server(**env)`: an auth-less server on PostgreSQL + SeaweedFS with those extra
    variables, and its objects' key prefix."""

    def make(**env: str) -> tuple[Server, str]:
        prefix = uuid.uuid4().hex[:8]
        return servers(
            pg_database, f"s3://stepline/{prefix}", env={**seaweed, **env}, auth=False
        ), prefix

    yield make


def _s3(seaweed: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=seaweed["AWS_ENDPOINT_URL"],
        aws_access_key_id=seaweed["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=seaweed["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def _key(prefix: str, oid: str) -> str:
    return f"{prefix}/{oid[:2]}/{oid[2:]}"


def _random_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for start in range(0, size, MiB):
            f.write(os.urandom(min(MiB, size - start)))
    return path


def _commit(client: HttpBackend, project: str, paths: list[Path]) -> Any:
    entries = ingest(client.objects, paths)
    manifest = Manifest({p.name: e for p, e in zip(paths, entries, strict=True)})
    version, _ = client.commit_version(project, "data", "dataset", manifest, None, {}, [], None)
    return version


def test_an_object_from_64_mib_goes_up_in_parts_and_comes_back_presigned(
    tmp_path: Path, s3_server: Callable[..., tuple[Server, str]], seaweed: dict[str, str]
) -> None:
    srv, prefix = s3_server()  # the default threshold (64 MiB) and part size (16 MiB)
    big = _random_file(tmp_path / "data" / "big.bin", 65 * MiB)
    small = _random_file(tmp_path / "data" / "small.bin", 3 * MiB)
    client = HttpBackend(srv.url, cache=tmp_path / "cache-1")
    version = _commit(client, "p", [big, small])
    assert client.objects.sent_objects == 2
    assert client.objects.sent_parts == 5  # 4 × 16 MiB + 1 MiB; the small one is a single PUT
    assert client.objects.sent_bytes == 68 * MiB
    s3 = _s3(seaweed)
    big_oid, small_oid = hash_file(big), hash_file(small)
    # S3 assembled the big object from 5 parts; the small one was one PUT
    assert s3.head_object(Bucket="stepline", Key=_key(prefix, big_oid))["ETag"].endswith('-5"')
    assert "-" not in s3.head_object(Bucket="stepline", Key=_key(prefix, small_oid))["ETag"]
    assert not s3.list_multipart_uploads(Bucket="stepline", Prefix=prefix).get("Uploads")
    # another machine downloads both straight from S3, each checked
    other = HttpBackend(srv.url, cache=tmp_path / "cache-2")
    other.materialize(version.manifest, tmp_path / "out")
    assert other.objects.received_presigned == 2 and other.objects.received_proxied == 0
    assert hash_file(tmp_path / "out" / "big.bin") == big_oid
    assert (tmp_path / "out" / "small.bin").read_bytes() == small.read_bytes()
    client.close()
    other.close()


KILLED = """
import os, signal, sys
from pathlib import Path
from stepline.backends import http
from stepline.store.ingest import ingest
from stepline.store.manifest import Manifest

http.PART_WORKERS = 2
sent = 0
put_part = http.RemoteObjects._put_part


def dying_put_part(self, *args):
    global sent
    etag = put_part(self, *args)
    sent += 1
    if sent == 3:  # the client dies in the middle of the upload, other parts in flight
        os.kill(os.getpid(), signal.SIGKILL)
    return etag


http.RemoteObjects._put_part = dying_put_part
client = http.HttpBackend(sys.argv[1], cache=Path(sys.argv[2]))
path = Path(sys.argv[3])
entry = ingest(client.objects, [path])[0]
client.commit_version("p", "big", "dataset", Manifest({"big.bin": entry}), None, {}, [], None)
"""


def test_a_killed_upload_resumes_without_sending_finished_parts_again(
    tmp_path: Path, s3_server: Callable[..., tuple[Server, str]], seaweed: dict[str, str]
) -> None:
    srv, prefix = s3_server(**SMALL)
    big = _random_file(tmp_path / "big.bin", 38 * MiB)  # 8 parts of 5 MiB (the last 3 MiB)
    oid, parts = hash_file(big), math.ceil(38 / 5)
    env = {**os.environ, **seaweed}
    out = subprocess.run(
        [sys.executable, "-c", KILLED, srv.url, str(tmp_path / "cache"), str(big)],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr.decode()[-2000:]
    # the server's bucket holds the unfinished upload with the parts sent before the kill
    s3 = _s3(seaweed)
    (upload,) = s3.list_multipart_uploads(Bucket="stepline", Prefix=prefix)["Uploads"]

    def listed() -> list[Any]:
        got = s3.list_parts(Bucket="stepline", Key=upload["Key"], UploadId=upload["UploadId"])
        return sorted((p["PartNumber"], p["Size"]) for p in got.get("Parts", []))

    # a part whose bytes were all in the dead process's socket buffer still arrives: wait
    # until the listing stays the same for a second
    held, deadline = listed(), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1)
        if (now := listed()) == held:
            break
        held = now
    finished = len(held)
    assert 3 <= finished < parts
    missing = httpx.post(f"{srv.url}/api/v1/objects/missing", json={"oids": [oid]}).json()
    assert missing["missing"] == [oid]  # not an object yet, so no version can use it
    # restarted, the client sends only the parts S3 lacks, and the object is whole
    client = HttpBackend(srv.url, cache=tmp_path / "cache")
    version = _commit(client, "p", [big])
    assert client.objects.sent_parts == parts - finished
    assert client.objects.sent_bytes == big.stat().st_size - sum(size for _, size in held)
    head = s3.head_object(Bucket="stepline", Key=_key(prefix, oid))
    assert head["ContentLength"] == 38 * MiB and head["ETag"].endswith(f'-{parts}"')
    assert not s3.list_multipart_uploads(Bucket="stepline", Prefix=prefix).get("Uploads")
    other = HttpBackend(srv.url, cache=tmp_path / "cache-2")
    other.materialize(version.manifest, tmp_path / "out")
    assert hash_file(tmp_path / "out" / "big.bin") == oid
    client.close()
    other.close()


def _put(url: str, data: bytes) -> int:
    return httpx.put(url, content=data, headers={"content-type": ""}).status_code


def test_an_incomplete_upload_is_refused_and_nothing_commits(
    tmp_path: Path, s3_server: Callable[..., tuple[Server, str]]
) -> None:
    srv, _ = s3_server(**SMALL)
    api = httpx.Client(base_url=srv.url + "/api/v1", timeout=60)
    data = os.urandom(12 * MiB)  # parts of 5, 5 and 2 MiB
    oid = hash_bytes(data)
    plan = api.post("/objects/uploads", json={"oids": [oid], "sizes": {oid: len(data)}}).json()
    upload = plan["multipart"][oid]
    assert plan["urls"] == {} and upload["part_size"] == 5 * MiB and upload["done"] == []
    assert sorted(upload["parts"]) == ["1", "2", "3"]
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in upload["parts"]["1"]
    for n, url in upload["parts"].items():
        cut = data[(int(n) - 1) * 5 * MiB : int(n) * 5 * MiB]
        assert _put(url, cut[:-1] if n == "2" else cut) == 200  # part 2 is a byte short
    done = {"oid": oid, "upload_id": upload["upload_id"], "size": len(data)}
    resp = api.post("/objects/uploads/complete", json=done)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "corrupt_object"
    assert "part(s) 2 of the wrong size" in resp.json()["error"]["message"]
    assert api.post("/objects/missing", json={"oids": [oid]}).json()["missing"] == [oid]
    # asked again, the server resumes the same upload and wants only part 2
    again = api.post("/objects/uploads", json={"oids": [oid], "sizes": {oid: len(data)}}).json()
    resumed = again["multipart"][oid]
    assert resumed["upload_id"] == upload["upload_id"] and resumed["done"] == [1, 3]
    assert list(resumed["parts"]) == ["2"]
    assert _put(resumed["parts"]["2"], data[5 * MiB : 10 * MiB]) == 200
    # every part is there now: a client with the file only completes the upload, sending nothing
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    client = HttpBackend(srv.url, cache=tmp_path / "c")
    _commit(client, "p", [path])
    assert client.objects.sent_objects == 1
    assert client.objects.sent_parts == 0 and client.objects.sent_bytes == 0
    assert api.post("/objects/missing", json={"oids": [oid]}).json()["missing"] == []
    reader = HttpBackend(srv.url, cache=tmp_path / "r")
    reader.objects.fetch(oid)
    assert reader.objects.get_bytes(oid) == data
    client.close()
    reader.close()


def test_abandoned_uploads_are_aborted_by_age(
    tmp_path: Path, s3_server: Callable[..., tuple[Server, str]], seaweed: dict[str, str]
) -> None:
    srv, prefix = s3_server(**SMALL, STEPLINE_MULTIPART_EXPIRY="2")
    api = httpx.Client(base_url=srv.url + "/api/v1", timeout=60)
    first, second = "1" * 64, "2" * 64
    plan = api.post("/objects/uploads", json={"oids": [first], "sizes": {first: 20 * MiB}}).json()
    assert _put(plan["multipart"][first]["parts"]["1"], os.urandom(5 * MiB)) == 200
    s3 = _s3(seaweed)

    def keys() -> set[str]:
        listed = s3.list_multipart_uploads(Bucket="stepline", Prefix=prefix)
        return {u["Key"] for u in listed.get("Uploads") or []}

    assert keys() == {_key(prefix, first)}
    time.sleep(3)  # older than STEPLINE_MULTIPART_EXPIRY: the next upload's sweep aborts it
    api.post("/objects/uploads", json={"oids": [second], "sizes": {second: 20 * MiB}})
    assert keys() == {_key(prefix, second)}


def test_a_download_with_the_facade_checks_digests_from_s3(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_server: Callable[..., tuple[Server, str]],
    seaweed: dict[str, str],
) -> None:
    srv, prefix = s3_server(**SMALL)
    remote(monkeypatch, srv)
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(tmp_path / "writer-cache"))
    monkeypatch.chdir(tmp_path)
    model = _random_file(tmp_path / "model.bin", 9 * MiB)
    run = stepline.init(project="p")
    art = stepline.Artifact("model", type="model")
    art.add_file(str(model))
    run.log_artifact(art)
    run.finish()
    # a reader with an empty cache: `file()` fetches from a presigned S3 URL
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(tmp_path / "reader-cache"))
    backends.reset()
    api = stepline.Api()
    path = api.artifact("p/model:latest").file(tmp_path / "got")
    assert Path(path).read_bytes() == model.read_bytes()
    objects = api._backend.objects  # type: ignore[attr-defined]
    assert objects.received_presigned == 1 and objects.received_proxied == 0
    # bytes changed in the bucket are refused: nothing reaches the folder or the cache
    oid = hash_file(model)
    _s3(seaweed).put_object(Bucket="stepline", Key=_key(prefix, oid), Body=os.urandom(9 * MiB))
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(tmp_path / "third-cache"))
    backends.reset()
    with pytest.raises(CorruptObject, match="hash to"):
        stepline.Api().artifact("p/model:latest").download(tmp_path / "bad")
    assert not (tmp_path / "bad" / "model.bin").exists()
    assert not list((tmp_path / "third-cache").rglob(f"{oid[2:]}"))
    backends.reset()


def test_a_client_that_cannot_reach_the_bucket_goes_through_the_server(
    tmp_path: Path, s3_server: Callable[..., tuple[Server, str]]
) -> None:
    # the server reaches S3, but its presigned URLs name an address nothing answers at
    srv, _ = s3_server(**SMALL, STEPLINE_S3_PRESIGN_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    paths = [_random_file(tmp_path / "data" / "big.bin", 11 * MiB), tmp_path / "data" / "s.txt"]
    paths[1].write_text("small\n")
    client = HttpBackend(srv.url, cache=tmp_path / "cache-1")
    version = _commit(client, "p", paths)
    assert client.objects.bucket_unreachable
    assert client.objects.sent_objects == 2 and client.objects.sent_parts == 0
    other = HttpBackend(srv.url, cache=tmp_path / "cache-2")
    other.materialize(version.manifest, tmp_path / "out")
    assert other.objects.bucket_unreachable
    assert other.objects.received_proxied == 2 and other.objects.received_presigned == 0
    for p in paths:
        assert (tmp_path / "out" / p.name).read_bytes() == p.read_bytes()
    client.close()
    other.close()


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.parametrize("objects", ["file", "s3"])
def test_big_objects_through_the_server_are_streamed(
    tmp_path: Path,
    objects: str,
    servers: Callable[..., Server],
    request: pytest.FixtureRequest,
) -> None:
    """The proxied path and `file://` objects never hold a whole file in the server's memory."""
    if objects == "s3":
        srv, _ = request.getfixturevalue("s3_server")()
    else:
        srv = servers(auth=False)
    if not Path(f"/proc/{srv.proc.pid}/status").exists():
        pytest.skip("no /proc to read the server's memory from")
    warm = _random_file(tmp_path / "warm" / "w.bin", MiB)
    client = HttpBackend(srv.url, cache=tmp_path / "cache-1")
    client.objects.proxy = True
    _commit(client, "warm", [warm])  # the server's first upload loads what it lazily imports
    before = _peak_rss(srv.proc.pid)
    big = _random_file(tmp_path / "data" / "big.bin", 192 * MiB)
    version = _commit(client, "p", [big])
    assert client.objects.sent_parts == 0 and client.objects.sent_bytes == 193 * MiB
    reader = HttpBackend(srv.url, cache=tmp_path / "cache-2")
    reader.objects.proxy = True
    reader.materialize(version.manifest, tmp_path / "out")
    assert reader.objects.received_proxied == 1
    assert hash_file(tmp_path / "out" / "big.bin") == hash_file(big)
    grew = _peak_rss(srv.proc.pid) - before
    assert grew < 96 * MiB, f"the server's peak memory grew by {grew / MiB:.0f} MiB"
    client.close()
    reader.close()
