"""Where stepline keeps what it can rebuild: envs, locks, git checkouts."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stepline import _settings


def cache_dir() -> Path:
    """`STEPLINE_CACHE_DIR`, else the platform's user cache dir + `stepline`."""
    return _settings.cache_dir()


def envs_dir() -> Path:
    """Built environments, one directory per env digest."""
    return cache_dir() / "envs"


def sources_dir() -> Path:
    """Git mirrors and checkouts of component sources."""
    return cache_dir() / "sources"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if needed), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
