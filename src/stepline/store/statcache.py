"""The stat cache: (device, inode, size, mtime_ns, ctime_ns) → digest, so unchanged files are never
re-hashed. The ctime is in the key because nobody can set it back: a write that restores a file's
size and mtime still changes its ctime, so the file is hashed again.

The cache is disposable: a damaged cache file is replaced by an empty one (with a warning), and a
cache that cannot be written at all (a read-only home, a full disk) is simply not used.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from stepline.errors import SteplineWarning

#: a file modified this recently may still change within the clock's resolution: never cache it
RACY_SECONDS = 0.1
#: the table's layout; a cache of another layout is dropped (it is only a cache)
FORMAT = 2

T = TypeVar("T")


class StatCache:
    """A small SQLite table on the local disk; one per machine-local cache folder.

    `StatCache(None)` is a cache that remembers nothing (read-only stores use it)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._open(rebuild_on_damage=True)

    # -- opening, and starting again when the file is damaged ---------------------------------
    def _open(self, rebuild_on_damage: bool) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._setup(self._db)
        except sqlite3.DatabaseError as exc:
            self._close_db()
            if rebuild_on_damage and _is_damage(exc):
                self._rebuild(exc)
            else:
                self._disable(exc)
        except OSError as exc:
            self._close_db()
            self._disable(exc)

    @staticmethod
    def _setup(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")  # concurrent first users create the table once
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
                db.execute("DROP TABLE IF EXISTS stat")
                db.execute(
                    "CREATE TABLE stat (dev INTEGER, ino INTEGER, size INTEGER,"
                    " mtime_ns INTEGER, ctime_ns INTEGER, digest TEXT, PRIMARY KEY (dev, ino))"
                )
                db.execute(f"PRAGMA user_version={FORMAT}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _rebuild(self, exc: Exception) -> None:
        assert self.path is not None
        warnings.warn(
            f"the stat cache {self.path} was damaged ({exc}); it was replaced by an empty one"
            " (it only saves re-hashing, nothing is lost)",
            SteplineWarning,
            stacklevel=4,
        )
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._open(rebuild_on_damage=False)

    def _disable(self, exc: Exception) -> None:
        warnings.warn(
            f"the stat cache {self.path} cannot be used ({exc}); files will be hashed every time",
            SteplineWarning,
            stacklevel=4,
        )
        self._db = None

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
        self._db = None

    def _run(self, fn: Callable[[sqlite3.Connection], T], default: T) -> T:
        """Run one statement under the lock; damage found now rebuilds the cache once."""
        with self._lock:
            if self._db is None:
                return default
            try:
                return fn(self._db)
            except sqlite3.DatabaseError as exc:
                self._close_db()
                if _is_damage(exc):
                    self._rebuild(exc)
                else:
                    self._disable(exc)
                return default

    # -- the cache ----------------------------------------------------------------------------
    def get(self, st: os.stat_result) -> str | None:
        """The digest recorded for a file with this exact stat, if any."""
        row = self._run(
            lambda db: db.execute(
                "SELECT size, mtime_ns, ctime_ns, digest FROM stat WHERE dev=? AND ino=?",
                (st.st_dev, st.st_ino),
            ).fetchone(),
            None,
        )
        if row and tuple(row[:3]) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
            return str(row[3])
        return None

    def get_many(self, stats: list[os.stat_result]) -> list[str | None]:
        return [self.get(st) for st in stats]

    def put_many(self, items: list[tuple[os.stat_result, str]]) -> None:
        """Record digests, skipping files modified too recently to trust their mtime."""
        now = time.time_ns()
        rows = [
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest)
            for st, digest in items
            if now - st.st_mtime_ns > RACY_SECONDS * 1e9
        ]
        if not rows:
            return

        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN")
            try:
                db.executemany("INSERT OR REPLACE INTO stat VALUES (?,?,?,?,?,?)", rows)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        self._run(write, None)

    def close(self) -> None:
        with self._lock:
            self._close_db()


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """A damaged file, as opposed to a busy or unwritable one."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "malformed" in text or "not a database" in text or "corrupt" in text
    return (
        True  # DatabaseError proper: "file is not a database", "database disk image is malformed"
    )


_SHARED: dict[Path, StatCache] = {}
_SHARED_LOCK = threading.Lock()


def shared(path: Path) -> StatCache:
    """One `StatCache` per file in this process (the store's is `<cache dir>/statcache.sqlite`)."""
    with _SHARED_LOCK:
        cache = _SHARED.get(path)
        if cache is None:
            cache = _SHARED[path] = StatCache(path)
        return cache


def cached_digests(cache: StatCache, paths: Sequence[Path]) -> list[str]:
    """BLAKE3 digests of `paths`, hashing only files the cache does not know at their stat.

    cached_digests(shared(cache_dir() / "statcache.sqlite"), [Path("run.py")])
    """
    from stepline.store.hashing import hash_files

    stats = [os.stat(p) for p in paths]
    try:
        digests = cache.get_many(stats)
    except sqlite3.Error:  # an unreadable cache only costs the hashing it would have saved
        digests = [None] * len(stats)
    todo = [i for i, d in enumerate(digests) if d is None]
    if todo:
        fresh = hash_files([os.fspath(paths[i]) for i in todo], [stats[i].st_size for i in todo])
        remember = []
        for i, digest in zip(todo, fresh, strict=True):
            digests[i] = digest
            after = os.stat(paths[i])
            if (after.st_ino, after.st_size, after.st_mtime_ns) == (
                stats[i].st_ino,
                stats[i].st_size,
                stats[i].st_mtime_ns,
            ):
                remember.append((stats[i], digest))
        try:
            cache.put_many(remember)
        except sqlite3.Error:
            pass
    return [d for d in digests if d is not None]
