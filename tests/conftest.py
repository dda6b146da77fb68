"""Shared fixtures: every test gets its own store, cache and working folder under tmp_path."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "STEPLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh `.stepline/` store in tmp_path, with the working folder there too."""
    from stepline import backends
    from stepline.tracking import run as run_mod

    root = tmp_path / ".stepline"
    monkeypatch.setenv("STEPLINE_DIR", str(root))
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STEPLINE_DATABASE_URL", raising=False)
    for var in ("PROJECT", "RUN_GROUP", "JOB_TYPE", "RUN_ID", "MODE"):
        monkeypatch.delenv(f"STEPLINE_{var}", raising=False)
        monkeypatch.delenv(f"WANDB_{var}", raising=False)
    monkeypatch.delenv("STEPLINE_SCOPE", raising=False)
    monkeypatch.chdir(tmp_path)
    backends.reset()
    yield root
    for r in list(run_mod._registry.runs):
        r.finish()
    backends.reset()


def _pg_available() -> str | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # no driver, no server, refused: all mean "skip"
        return f"no PostgreSQL at {PG_ADMIN_URL} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"


@pytest.fixture(scope="session")
def pg_server() -> str:
    reason = _pg_available()
    if reason:
        print(f"\nSKIP PostgreSQL tests: {reason}")
        pytest.skip(reason)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"stepline_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = pg_server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from stepline import backends

    backends.reset()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
