"""Room kept beside a SQLite database so a run can still record how it ended on a full disk.

When the disk under `stepline.db` fills up, no write succeeds, not even the one that marks a run
`failed` and counts the metric points it lost. Each store therefore keeps a small ballast file,
`stepline.db.reserve` (256 KB), next to its database: the write that closes a run, when it fails,
deletes the ballast and tries once more. The ballast is re-created the next time the store is
opened with room to spare. Losing it costs nothing but that last resort.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

RESERVE_BYTES = 256 * 1024
T = TypeVar("T")


def sqlite_path(url: str) -> Path | None:
    """The database file of a `sqlite:///path` URL (None for memory databases and servers)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


class Reserve:
    """The ballast file beside one SQLite database."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".reserve")

    def ensure(self) -> None:
        """Create the ballast if it is missing and there is room; never raises."""
        if self.path.exists():
            return
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(b"\0" * RESERVE_BYTES)  # real blocks, not a sparse file
            os.replace(tmp, self.path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass

    def release(self) -> bool:
        """Delete the ballast to free its room; False when there was none."""
        try:
            self.path.unlink()
        except OSError:
            return False
        return True


def with_reserve(reserve: Reserve | None, write: Callable[[], T]) -> T:
    """Run `write`; if the database refuses it, free the reserve and run it once more.

    The refusal is SQLite's `OperationalError`, raised by `sqlite3` itself (the stdlib run
    writer) or wrapped by SQLAlchemy (which keeps the driver's error as `.orig`).
    """
    try:
        return write()
    except Exception as exc:
        refused = isinstance(getattr(exc, "orig", exc), sqlite3.OperationalError)
        if not refused or reserve is None or not reserve.release():
            raise
    return write()
