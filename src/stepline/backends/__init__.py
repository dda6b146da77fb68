"""The Backend port (metadata + objects) and its adapters: local now, HTTP for a server.

backend = open_backend(settings.current())   # the store these settings name
backend = get_backend()                      # the same, shared in this process
"""

from __future__ import annotations

import threading
from pathlib import Path

from stepline.backends.base import Backend
from stepline.settings import Settings, current

_lock = threading.Lock()
_backends: dict[tuple[object, ...], Backend] = {}


def get_backend(root: Path | None = None, settings: Settings | None = None) -> Backend:
    """The process-wide backend for the configured store (`STEPLINE_DIR`, `STEPLINE_DATABASE_URL`).

    `settings` default to this process's environment now; one backend is kept per store,
    database and the settings a backend uses (cache folder, link types, fsync, heartbeat).
    """
    from stepline import _settings

    settings = settings or current()
    uri = settings.tracking_uri
    if root is None and uri.startswith(("http://", "https://")):
        local = _settings.store_dir(settings)  # where runs go while the server is unreachable
        with _lock:
            found = _backends.get(("http", uri, str(local)))
            if found is None:
                from stepline.backends.http import HttpBackend
                from stepline.backends.offline import FallbackBackend

                server = HttpBackend(uri)
                fallback = FallbackBackend(server, local, settings, settings.offline_after)
                found = _backends[("http", uri, str(local))] = fallback
            return found
    root = root or _settings.store_dir(settings)
    url = _settings.database_url(root, settings=settings)
    key = (
        str(root),
        url,
        settings.cache_dir,
        settings.link_type,
        settings.fsync,
        settings.heartbeat_timeout,
    )
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            from stepline.backends.local import LocalBackend

            backend = _backends[key] = LocalBackend(root, url, settings=settings)
        return backend


def open_backend(settings: Settings, root: Path | None = None) -> Backend:
    """The backend of the store `settings` name (shared in this process, as `get_backend`)."""
    return get_backend(root, settings)


def reset() -> None:
    """Forget cached backends (tests that switch stores in one process)."""
    with _lock:
        for backend in _backends.values():
            backend.close()
        _backends.clear()
