"""The stat cache: (device, inode, size, mtime_ns) → digest, so unchanged files are never re-hashed."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

#: a file modified this recently may still change within the clock's resolution: never cache it
RACY_SECONDS = 0.1


class StatCache:
    """A small SQLite table on the local disk; one per machine-local cache folder."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS stat (dev INTEGER, ino INTEGER, size INTEGER,"
                " mtime_ns INTEGER, digest TEXT, PRIMARY KEY (dev, ino))"
            )

    def get(self, st: os.stat_result) -> str | None:
        """The digest recorded for a file with this exact stat, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT size, mtime_ns, digest FROM stat WHERE dev=? AND ino=?",
                (st.st_dev, st.st_ino),
            ).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return str(row[2])
        return None

    def get_many(self, stats: list[os.stat_result]) -> list[str | None]:
        return [self.get(st) for st in stats]

    def put_many(self, items: list[tuple[os.stat_result, str]]) -> None:
        """Record digests, skipping files modified too recently to trust their mtime."""
        now = time.time_ns()
        rows = [
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest)
            for st, digest in items
            if now - st.st_mtime_ns > RACY_SECONDS * 1e9
        ]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO stat VALUES (?,?,?,?,?)", rows)
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
