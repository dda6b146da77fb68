"""Fixtures for the UI: one demo store per module, its app, and a real server on loopback."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.ui import demo_store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class DemoStore:
    root: Path
    demo: demo_store.Demo
    backend: Any


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStore]:
    """The demo store (see demo_store.py), built once per test module."""
    from stepline import backends
    from stepline.backends.local import LocalBackend

    tmp = tmp_path_factory.mktemp("ui-demo")
    root = tmp / ".stepline"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_DIR", str(root))
        mp.setenv("STEPLINE_CACHE_DIR", str(tmp / "cache"))
        for var in ("PROJECT", "RUN_GROUP", "JOB_TYPE", "RUN_ID", "MODE", "SCOPE"):
            mp.delenv(f"STEPLINE_{var}", raising=False)
        mp.chdir(tmp)
        backends.reset()
        built = demo_store.build(tmp)
        backends.reset()
        backend = LocalBackend(root)
    yield DemoStore(root, built, backend)
    backend.close()


@pytest.fixture(scope="module")
def client(demo: DemoStore) -> Iterator[Any]:
    """An in-process client of the demo store's UI (no port)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette: "install httpx2"
        from fastapi.testclient import TestClient

    from stepline.ui import create_app

    with TestClient(create_app(demo.backend)) as c:
        yield c


class Server:
    """uvicorn serving an app on 127.0.0.1 in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(demo: DemoStore) -> Iterator[Server]:
    from stepline.ui import create_app

    with Server(create_app(demo.backend)) as s:
        yield s


def _browser_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"no browser at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install 'stepline[dev]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, launched by path (never downloaded)."""
    reason = _browser_missing()
    if reason:
        print(f"\nSKIP browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A browser page that records console errors and failed requests."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on(
            "response",
            lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )

    def goto(self, path: str) -> Any:
        self.page.goto(self.base + path, wait_until="networkidle")
        return self.page


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Page]:
    p = Page(browser, server.url)
    yield p
    p.context.close()
