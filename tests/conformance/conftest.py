"""The adapters the conformance suite runs on: every test here runs once per entry of `ADAPTERS`.

An adapter is an opener: a picklable callable (it may be called again in another process) that
opens a `Backend` over one store made for the test. Adding an adapter (HTTP, S3 objects, ...) is
one line in `ADAPTERS`; one that needs a service it cannot reach skips with a printed reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from stepline.backends.base import Backend
from stepline.backends.local import LocalBackend

Opener = Callable[[], Backend]


def local_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """LocalBackend with its SQLite database in the store folder."""
    return partial(LocalBackend, tmp_path / "store", None)


def local_sqlite_reopened(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """LocalBackend on a SQLite store opened again: a run's own writes go through `sqlite3`."""
    LocalBackend(tmp_path / "store").close()  # the schema exists now
    return partial(LocalBackend, tmp_path / "store", None)


def local_postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """LocalBackend on a fresh PostgreSQL database (skipped when 127.0.0.1:5432 does not answer)."""
    return partial(LocalBackend, tmp_path / "store", request.getfixturevalue("pg_url"))


#: (id, how to open it for a test): one line per adapter
ADAPTERS: list[tuple[str, Callable[[pytest.FixtureRequest, Path], Opener]]] = [
    ("sqlite", local_sqlite),
    ("sqlite-stdlib", local_sqlite_reopened),
    ("postgresql", local_postgresql),
]


@pytest.fixture(params=[make for _, make in ADAPTERS], ids=[name for name, _ in ADAPTERS])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens (another) backend over this test's store."""
    make: Callable[[pytest.FixtureRequest, Path], Opener] = request.param
    return make(request, tmp_path)


@pytest.fixture
def backend(opener: Opener) -> Iterator[Backend]:
    b = opener()
    yield b
    b.close()
