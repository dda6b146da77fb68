"""References to files that stay where they are: http(s) from a local server, s3 from moto's server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

import stepline


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def test_http_reference_records_without_copying(
    http_root: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = http_root
    (root / "iris.csv").write_text("a,b\n1,2\n")
    with stepline.init(project="p") as run:
        art = stepline.Artifact("iris.csv", "raw_data")
        (entry,) = art.add_reference(f"{url}/iris.csv")
        run.log_artifact(art)
    assert entry.ref == f"{url}/iris.csv" and entry.size == 8
    got = stepline.Api().artifact("p/iris.csv:v0")
    assert Path(got.file(tmp_path / "dl")).read_text() == "a,b\n1,2\n"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield endpoint
    server.stop()


def test_s3_reference_uses_the_etag(s3_endpoint: str, tmp_path: Path) -> None:
    import uuid

    import boto3

    bucket = f"data-{uuid.uuid4().hex[:8]}"  # moto keeps one state per process: a bucket of our own
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="raw/sample.csv", Body=b"x,y\n1,2\n")
    s3.put_object(Bucket=bucket, Key="raw/more/other.csv", Body=b"z\n")
    etag = s3.head_object(Bucket=bucket, Key="raw/sample.csv")["ETag"].strip('"')
    with stepline.init(project="p") as run:
        one = stepline.Artifact("sample", "raw_data")
        (entry,) = one.add_reference(f"s3://{bucket}/raw/sample.csv")
        run.log_artifact(one)
        prefix = stepline.Artifact("raw", "raw_data")
        prefix.add_reference(f"s3://{bucket}/raw")
        run.log_artifact(prefix)
    assert entry.digest == f"etag:{etag}" and entry.ref == f"s3://{bucket}/raw/sample.csv"
    got = stepline.Api().artifact("p/raw:v0")
    assert got.files() == ["more/other.csv", "sample.csv"]
    root = Path(got.download(tmp_path / "dl"))
    assert (root / "more" / "other.csv").read_bytes() == b"z\n"
    s3.put_object(Bucket=bucket, Key="raw/sample.csv", Body=b"changed\n")
    with stepline.init(project="p") as run:
        again = stepline.Artifact("sample", "raw_data")
        again.add_reference(f"s3://{bucket}/raw/sample.csv")
        assert run.log_artifact(again).version == "v1"  # new ETag: a new version
