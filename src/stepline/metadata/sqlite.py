"""SQLite specifics shared by the SQLAlchemy engine (`metadata.engine`) and the stdlib run writer
(`metadata.sqlite_runs`): which URLs name which file, how a connection is set up, and what a
damaged or read-only file means.

    conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
    configure(conn, read_only=False)        # WAL, NORMAL sync, 60 s busy timeout, foreign keys
    try:
        conn.execute("BEGIN IMMEDIATE")     # stepline issues BEGIN itself, writers take the lock
        ...
    except sqlite3.DatabaseError as exc:
        raise error_for(exc, path) or exc   # a MetadataError that says what to do, when it can

Stdlib only: the run write path imports this without importing SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepline.errors import MetadataError

#: how long a connection waits for another process's write lock (the PRAGMA is in ms)
BUSY_TIMEOUT_SECONDS = 60


def plain_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///path` URL; None for memory, `file:` URIs and servers."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = url[len("sqlite:///") :]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def read_only_sqlite_url(path: Path) -> str:
    """A URL that reads `path` without writing anything next to it (for read-only mounts).

    With a `-wal` file present SQLite reads it (mode=ro); without one the database is opened as
    immutable, since a read-only folder cannot hold the `-shm` file WAL readers need."""
    flags = "mode=ro" if Path(f"{path}-wal").exists() else "mode=ro&immutable=1"
    return f"sqlite:///file:{path}?{flags}&uri=true"


def configure(dbapi_conn: Any, read_only: bool) -> None:
    """Set a new DB-API connection up the way stepline uses SQLite.

    Autocommit at the driver level (stepline issues BEGIN itself, see `BEGIN IMMEDIATE` in the
    callers), WAL with synchronous=NORMAL (readers never block the writer; a commit is durable
    at the next checkpoint), a busy timeout so writers queue instead of failing, foreign keys on.
    """
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    if not read_only:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def error_for(orig: BaseException, path: str) -> MetadataError | None:
    """The MetadataError a driver error on `path` stands for (damaged, read-only), else None."""
    text = str(orig).lower()
    if "malformed" in text or "not a database" in text or "database corrupt" in text:
        return MetadataError(
            f"the metadata database {path} is damaged ({orig}). Salvage what it holds with"
            f" `sqlite3 {path} .recover | sqlite3 recovered.db` and put recovered.db in its"
            " place, or restore it from a backup; objects under objects/ are not affected"
        )
    if "readonly database" in text or "read-only" in text:
        return MetadataError(
            f"the store {Path(path).parent} is read-only ({orig}); reading works, writing"
            " needs a writable store: set STEPLINE_DIR to one"
        )
    return None
