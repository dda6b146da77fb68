"""The Backend port (metadata + objects) and its adapters: local now, HTTP for a server."""

from __future__ import annotations

import threading
from pathlib import Path

from stepline.backends.base import Backend

_lock = threading.Lock()
_backends: dict[tuple[str, str], Backend] = {}


def get_backend(root: Path | None = None) -> Backend:
    """The process-wide backend for the configured store (`STEPLINE_DIR`, `STEPLINE_DATABASE_URL`)."""
    from stepline import _settings

    root = root or _settings.store_dir()
    url = _settings.database_url(root)
    key = (str(root), url)
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            from stepline.backends.local import LocalBackend

            backend = _backends[key] = LocalBackend(root, url)
        return backend


def reset() -> None:
    """Forget cached backends (tests that switch stores in one process)."""
    with _lock:
        for backend in _backends.values():
            backend.close()
        _backends.clear()
