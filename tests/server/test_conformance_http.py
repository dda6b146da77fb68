"""The Backend conformance suite (tests/conformance) on the HTTP adapter against a real server.

The suite's manifests name made-up digests; a server refuses to commit a version whose objects it
lacks, so here `manifest(...)` stores each content for real (its digest is its BLAKE3) — the one
difference from the local adapters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conformance import test_backend as suite
from tests.conformance.test_backend import *  # noqa: F403  (the suite's tests run here too)
from tests.server.conftest import Server

from stepline.backends.http import HttpBackend
from stepline.store.manifest import Entry, Manifest


@pytest.fixture(params=["http-sqlite-files", "http-postgres-s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HttpBackend]:
    if request.param == "http-sqlite-files":
        server: Server = request.getfixturevalue("sqlite_server")
    else:  # a database per test: the suite reuses run ids and project names
        import uuid

        seaweed = request.getfixturevalue("seaweed")
        url = request.getfixturevalue("pg_url")
        prefix = uuid.uuid4().hex[:8]
        server = request.getfixturevalue("servers")(
            url, f"s3://stepline/{prefix}", env=seaweed, auth=False
        )
    b = HttpBackend(server.url, cache=tmp_path / "client-cache")

    def manifest(*contents: str) -> Manifest:
        entries = {}
        for i, c in enumerate(contents):
            data = c.encode()
            entries[f"f{i}"] = Entry(b.objects.put_bytes(data), len(data))
        return Manifest(entries)

    monkeypatch.setattr(suite, "manifest", manifest)
    yield b
    b.close()
