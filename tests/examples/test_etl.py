"""The etl example: download, remove_duplicates and store, their logic and their run.py."""

from __future__ import annotations

import functools
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from .conftest import EXAMPLES, load_module, requires_core, run_component

ETL = EXAMPLES / "etl"
COMPONENTS = ETL / "components"
SAMPLE = ETL / "data" / "listings.csv"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def download():
    return load_module(COMPONENTS / "download" / "run.py")


@pytest.fixture(scope="module")
def dedup():
    return load_module(COMPONENTS / "remove_duplicates" / "run.py")


@pytest.fixture(scope="module")
def store_mod():
    return load_module(COMPONENTS / "store" / "run.py")


@pytest.fixture()
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on loopback serving a temporary folder."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [1, 2, 3], "name": ["a", None, "c"], "price": [10.5, 20.0, float("nan")]}
    )


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text(f'SELECT count(*) FROM "{table}"'))


# ---------------------------------------------------------------- download


def test_download_streams_from_a_local_http_server(download, http_root) -> None:
    base, root = http_root
    payload = SAMPLE.read_bytes()
    (root / "listings.csv").write_bytes(payload)
    name, size, chunks = download.open_source(f"{base}/listings.csv")
    assert name == "listings.csv"
    assert size == len(payload)
    assert b"".join(chunks) == payload


def test_download_reads_file_urls_and_paths(download, tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,2\n3,4\n")
    for location in (src.as_uri(), str(src)):
        name, size, chunks = download.open_source(location)
        assert (name, size, b"".join(chunks)) == ("x.csv", 12, src.read_bytes())
    name, _, chunks = download.open_source("data/listings.csv")  # relative to the example
    assert name == "listings.csv" and b"".join(chunks) == SAMPLE.read_bytes()


def test_download_rejects_unknown_schemes_and_missing_files(download) -> None:
    with pytest.raises(ValueError, match="ftp"):
        download.open_source("ftp://example.org/x.csv")
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        download.open_source("nope.csv")


def test_download_counts_csv_rows(download, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,"two\nlines"\n3,4\n')
    assert download.count_rows(path) == 2
    assert download.count_rows(SAMPLE) == len(pd.read_csv(SAMPLE))


# ---------------------------------------------------------------- remove_duplicates


def test_remove_duplicates_on_the_bundled_sample(dedup) -> None:
    df = pd.read_csv(SAMPLE)
    exact, stats = dedup.remove_duplicates(df, [])
    assert stats == {"rows_in": 324, "exact_duplicates_dropped": 20, "rows_out": 304}
    assert not exact.duplicated().any()
    keyed, stats = dedup.remove_duplicates(df, ["id"])
    assert stats["key_duplicates_dropped"] == 5 and stats["rows_out"] == 299
    assert keyed["id"].is_unique


def test_remove_duplicates_names_a_missing_key(dedup) -> None:
    with pytest.raises(ValueError, match="nope"):
        dedup.remove_duplicates(frame(), ["nope"])


# ---------------------------------------------------------------- store


def check_store_is_idempotent(store_mod, engine: sa.Engine, table: str) -> None:
    first = store_mod.store(frame(), engine, table, [])
    assert first["inserted"] == 3 and first["table_rows"] == 3
    again = store_mod.store(frame(), engine, table, [])
    assert again["inserted"] == 0 and again["already_present"] == 3
    assert count(engine, table) == 3
    grown = pd.concat([frame(), pd.DataFrame({"id": [4], "name": ["d"], "price": [1.0]})])
    assert store_mod.store(grown, engine, table, [])["inserted"] == 1
    assert count(engine, table) == 4
    # with a key, a changed row replaces the stored one instead of adding a second
    changed = pd.DataFrame({"id": [2], "name": ["b"], "price": [99.0]})
    stats = store_mod.store(changed, engine, table, ["id"])
    assert stats["replaced"] == 1 and stats["table_rows"] == 4
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT name, price FROM "{table}" WHERE id = 2')).all()
    assert rows == [("b", 99.0)]
    with engine.connect() as conn:
        nulls = conn.scalar(sa.text(f'SELECT count(*) FROM "{table}" WHERE price IS NULL'))
    assert nulls == 1


def test_store_is_idempotent_on_sqlite(store_mod, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'etl.sqlite'}")
    check_store_is_idempotent(store_mod, engine, "listings")
    engine.dispose()


def test_store_refuses_a_table_of_another_shape(store_mod, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'etl.sqlite'}")
    store_mod.store(frame(), engine, "t", [])
    with pytest.raises(ValueError, match="has columns"):
        store_mod.store(pd.DataFrame({"other": [1]}), engine, "t", [])
    engine.dispose()


def test_store_is_idempotent_on_postgresql(store_mod) -> None:
    url = store_mod.engine_url(POSTGRES_URL)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except Exception as exc:  # no server here: say so, do not fail
        engine.dispose()
        print(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"no PostgreSQL answers at {POSTGRES_URL} ({type(exc).__name__})")
    table = f"etl_test_{uuid.uuid4().hex[:8]}"
    try:
        check_store_is_idempotent(store_mod, engine, table)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
        engine.dispose()


def test_engine_url_places_relative_sqlite_in_the_project_root(
    store_mod, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / "proj" / ".stepline"))
    assert store_mod.engine_url("sqlite:///etl.sqlite") == f"sqlite:///{tmp_path}/proj/etl.sqlite"
    assert store_mod.engine_url("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert store_mod.engine_url(POSTGRES_URL).startswith("postgresql+psycopg://postgres@")


# ---------------------------------------------------------------- the three run.py, chained


@requires_core
def test_etl_components_chain_through_artifacts(http_root, store: Path, tmp_path: Path) -> None:
    import stepline

    base, root = http_root
    (root / "listings.csv").write_bytes(SAMPLE.read_bytes())
    db = tmp_path / "out.sqlite"
    run_component(COMPONENTS / "download", ["--url", f"{base}/listings.csv"], store)
    run_component(
        COMPONENTS / "remove_duplicates", ["--input_artifact", "raw_data:latest", "--key", "id"],
        store,
    )  # fmt: skip
    for _ in range(2):  # storing twice adds nothing
        run_component(
            COMPONENTS / "store",
            ["--input_artifact", "clean_data:latest", "--db", f"sqlite:///{db}", "--key", "id"],
            store,
        )
    engine = sa.create_engine(f"sqlite:///{db}")
    assert count(engine, "clean_data") == 299
    engine.dispose()

    api = stepline.Api()
    raw = api.artifact("examples/raw_data:latest")
    assert raw.type == "raw_data"
    assert raw.metadata["source"] == f"{base}/listings.csv"
    assert raw.metadata["rows"] == 324 and raw.metadata["bytes"] == SAMPLE.stat().st_size
    clean = api.artifact("examples/clean_data:latest")
    assert clean.metadata["exact_duplicates_dropped"] == 20
    assert clean.metadata["key_duplicates_dropped"] == 5


def test_download_reads_s3_from_a_local_s3_server(
    download, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_server = pytest.importorskip("moto.server", reason="moto[server] provides a local S3")
    boto3 = pytest.importorskip("boto3")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for key, value in {
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
        }.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="raw/listings.csv", Body=SAMPLE.read_bytes())
        name, size, chunks = download.open_source("s3://data/raw/listings.csv")
        assert (name, size) == ("listings.csv", SAMPLE.stat().st_size)
        assert b"".join(chunks) == SAMPLE.read_bytes()
    finally:
        server.stop()
