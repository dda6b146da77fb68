"""Fixtures for pipeline tests: a real HTTP server on loopback; a two-node Ray cluster."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No request log on stderr."""


class RedirectHandler(QuietHandler):
    def do_HEAD(self) -> None:
        if self.path == "/moved.csv":
            self.send_response(302)
            self.send_header("Location", "/sample.csv")
            self.end_headers()
            return
        super().do_HEAD()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving tmp_path/www; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(RedirectHandler, directory=str(www))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A fresh two-node Ray cluster for one module's tests (never someone else's cluster);
    yields `ray`, connected. Skipped, with the reason printed, where Ray cannot start.

    Module-scoped: the test process stays a Ray driver only while that module's tests run, and
    the nodes are stopped before any other module's tests start."""
    from .raycluster import ClusterUnavailable, two_node_cluster

    try:
        with two_node_cluster() as (ray, _temp):
            yield ray
    except ClusterUnavailable as exc:  # raised before the yield: the cluster did not start
        print(f"\nSKIP Ray tests: {exc}")
        pytest.skip(f"Ray cannot start here: {exc}")
