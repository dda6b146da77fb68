"""The scoring server against hostile requests, over real HTTP on 127.0.0.1.

No malformed request may get a 5xx: unparseable bodies get 400 with MLflow's error shape,
bodies over the limit get 413 (from Content-Length, or while a chunked body streams in).
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepline.models import PackagedModel, load, save
from stepline.models.serving import DEFAULT_MAX_BODY_SIZE, create_app, serve_in_thread

LIMIT = 256 * 1024
COLUMNS = ["neighbourhood_group", "minimum_nights", "reviews_per_month"]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, rental) -> PackagedModel:
    frame, _, model = rental
    path = tmp_path_factory.mktemp("hostile") / "pkg"
    save(model, path, input_example=frame.iloc[:2])
    return load(path)


@pytest.fixture(scope="module")
def url(packaged: PackagedModel) -> Iterator[str]:
    with serve_in_thread(create_app(packaged, max_body_size=LIMIT)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as http:
        yield http


def _bad_request(resp: httpx.Response) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["error_code"] == "BAD_REQUEST" and body["message"], body


def _raw(url: str, request: bytes, timeout: float = 10.0) -> bytes:
    """Send `request` as bytes on a fresh connection; return what the server answers."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = [
                    int(h.split(b":", 1)[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length:")
                ]
                if length and len(rest) >= length[0]:
                    break
        return b"".join(chunks)


def _status(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1."):
        return None
    return int(response.split(b" ", 2)[1])


def test_deeply_nested_json_is_a_bad_request(client: httpx.Client) -> None:
    for depth in (5_000, 100_000):
        body = '{"inputs": ' + "[" * depth + "]" * depth + "}"
        _bad_request(
            client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
        )


def test_an_integer_over_4300_digits_is_a_bad_request(client: httpx.Client) -> None:
    body = '{"dataframe_split": {"columns": ["minimum_nights"], "data": [[' + "9" * 5000 + "]]}}"
    resp = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
    _bad_request(resp)
    assert "digits" in resp.json()["message"]


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(url: str) -> None:
    head = (
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {LIMIT + 1}\r\n\r\n"
    ).encode()
    response = _raw(url, head)  # no body at all: the answer comes from the header alone
    assert _status(response) == 413, response[:300]
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED" and str(LIMIT) in body["message"]


def test_the_default_limit_is_64_mib(packaged: PackagedModel) -> None:
    assert DEFAULT_MAX_BODY_SIZE == 64 * 1024 * 1024
    with serve_in_thread(create_app(packaged)) as base:
        big = (
            f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n"
        )
        assert _status(_raw(base, big.encode())) == 413
        ok = httpx.post(
            f"{base}/invocations",
            json={
                "dataframe_records": [
                    {"neighbourhood_group": "Bronx", "minimum_nights": 3, "reviews_per_month": 1.0}
                ]
            },
        )
        assert ok.status_code == 200, ok.text


def test_a_chunked_body_is_cut_off_at_the_limit_while_it_streams(url: str) -> None:
    """The 413 arrives while the client is still sending: the server read no further."""
    parts = urlsplit(url)
    chunk = b"[" * 65536
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        answered = False
        while sent < 512 * LIMIT:  # far more than the limit; never finished with a 0 chunk
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answered = True
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                answered = True
                break
            sent += len(chunk)
        assert answered, f"no answer after {sent} bytes with a limit of {LIMIT}"
        response = b""
        while b"\r\n\r\n" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    assert _status(response) == 413, response[:300]


def test_under_the_limit_still_scores(client: httpx.Client) -> None:
    rows = [{"neighbourhood_group": "Bronx", "minimum_nights": 3, "reviews_per_month": 1.0}] * 100
    resp = client.post("/invocations", json={"dataframe_records": rows})
    assert resp.status_code == 200 and len(resp.json()["predictions"]) == 100


# -- fuzzing ---------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from([*COLUMNS, "Bronx", "NaN", ""]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(COLUMNS), inner, max_size=4)
    ),
    max_leaves=20,
)


def _payloads() -> st.SearchStrategy[dict]:
    key = st.sampled_from(
        ["dataframe_split", "dataframe_records", "instances", "inputs", "params", "other"]
    )
    return st.dictionaries(key, _json_values, max_size=3)


def _raw_json(values: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return values.map(lambda v: json.dumps(v, allow_nan=True).encode())


def _literals() -> st.SearchStrategy[bytes]:
    """JSON with things json.dumps would not write: huge numbers, deep nesting, bad UTF-8."""
    return st.one_of(
        st.integers(4000, 6000).map(lambda n: b'{"inputs": [' + b"1" * n + b"]}"),
        st.integers(1, 200_000).map(lambda n: b'{"instances": ' + b"[" * n + b"]" * n + b"}"),
        st.integers(1, 50_000).map(
            lambda n: b'{"inputs": ' + b'{"a":' * n + b"1" + b"}" * n + b"}"
        ),
        st.sampled_from(
            [
                b'{"inputs": [1e999999]}',
                b'{"inputs": [-1e-99999]}',
                b'{"inputs": [NaN, Infinity]}',
                b'\xff\xfe{"inputs": [1]}',
                b'{"inputs": "\xc3\x28"}',
                b"\x00" * 10,
                b"{" * 10,
            ]
        ),
    )


def _csv() -> st.SearchStrategy[bytes]:
    cell = st.text(max_size=6) | st.integers().map(str) | st.just('"') | st.just("9" * 5000)
    row = st.lists(cell, max_size=4).map(lambda cells: ",".join(cells))
    return st.lists(row, max_size=5).map(
        lambda rows: "\n".join([",".join(COLUMNS), *rows]).encode()
    )


_content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "text/csv",
            "application/json; charset=latin-1",
            "TEXT/CSV;",
            "",
            "application/xml",
            "multipart/form-data; boundary=x",
            "application/json; format=pandas-split",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        _raw_json(_payloads()),
        _raw_json(_json_values),
        _literals(),
        _csv(),
        st.binary(max_size=300),
    ),
    content_type=_content_types,
)
def test_no_malformed_body_gets_a_server_error(
    client: httpx.Client, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    resp = client.post("/invocations", content=body, headers=headers)
    assert resp.status_code < 500, (resp.status_code, resp.text[:500], body[:200])
    if resp.status_code >= 400:
        error = resp.json()
        assert set(error) >= {"error_code", "message"}, error


_header_bytes = st.binary(min_size=0, max_size=60).filter(lambda b: b"\r\n\r\n" not in b)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from([b"POST", b"GET", b"PUT", b"P\x00ST", b""]),
    target=st.sampled_from([b"/invocations", b"/ping", b"/invocations?x=%ff", b"*", b"/../../etc"]),
    length=st.one_of(
        st.none(), st.sampled_from([b"-1", b"abc", b"1e3", b" 5", b"99999999999999999999", b"0"])
    ),
    extra=_header_bytes,
    body=st.binary(max_size=100),
)
def test_no_malformed_request_line_or_header_gets_a_server_error(
    url: str, method: bytes, target: bytes, length: bytes | None, extra: bytes, body: bytes
) -> None:
    head = method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n"
    if length is not None:
        head += b"Content-Length: " + length + b"\r\n"
    head += b"X-Fuzz: " + extra + b"\r\n\r\n"
    response = _raw(url, head + body, timeout=5)
    status = _status(response)
    assert status is None or status < 500, response[:300]


def test_schemathesis_finds_no_server_error(url: str, packaged: PackagedModel) -> None:
    """Schemathesis, positive and negative cases, over the schema the server publishes."""
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("POST", "/invocations"),
        ("GET", "/ping"),
    }
    for op in operations:
        # only /invocations takes input, so only it has negative (schema-violating) cases
        modes = [GenerationMode.POSITIVE]
        if op.path == "/invocations":
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @settings(
                max_examples=80,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case) -> None:
                response = case.call(base_url=url)
                assert response.status_code < 500, (
                    case.method,
                    case.path,
                    case.body,
                    response.text[:300],
                )
                if case.path == "/invocations" and response.status_code >= 400:
                    assert set(response.json()) >= {"error_code", "message"}

            check()


def test_cli_serve_max_body_size(packaged: PackagedModel) -> None:
    """`stepline serve --max-body-size 2KiB`: a 3 KB body gets 413, a small one is scored."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from click.testing import CliRunner

    from stepline.cli.models import cli
    from stepline.models.serving import free_port

    bad = CliRunner().invoke(cli, ["serve", str(packaged.path), "--max-body-size", "lots"])
    assert bad.exit_code == 2 and "'lots' is not a size" in bad.output

    port = free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = ["serve", str(packaged.path), "--port", str(port), "--max-body-size", "2KiB"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepline.cli.models", *args, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not answer /ping"
            time.sleep(0.1)
        row = {"neighbourhood_group": "Bronx", "minimum_nights": 3, "reviews_per_month": 1.0}
        small = httpx.post(f"{base}/invocations", json={"dataframe_records": [row]})
        assert small.status_code == 200, small.text
        large = httpx.post(f"{base}/invocations", json={"dataframe_records": [row] * 60})
        assert large.status_code == 413 and "2048 bytes" in large.json()["message"]
    finally:
        proc.terminate()
        proc.wait(10)
