"""Engines for SQLite (WAL, immediate transactions, busy timeout) and PostgreSQL, and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stepline.errors import MetadataError, MissingExtra
from stepline.metadata import schema

SCHEMA_VERSION = 1


def _sqlite_engine(url: str) -> sa.Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # stepline issues BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # take the write lock up front: two writers never both read, then both insert v3
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_engine(url: str) -> sa.Engine:
    """An engine for `url` with its schema created or migrated to the current version."""
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url)
    elif url.startswith("postgresql"):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        try:
            engine = sa.create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise MissingExtra(
                f"a PostgreSQL store needs psycopg: pip install 'stepline[postgres]' ({exc})"
            ) from None
    else:
        raise MetadataError(
            f"unsupported database URL {url!r}; use sqlite:///path or postgresql://user@host/db"
        )
    migrate(engine)
    return engine


def migrate(engine: sa.Engine) -> None:
    """Create the schema, or check the stored one is one this version understands."""
    try:
        with engine.connect() as conn:  # the common case: one cheap read, no reflection
            version = conn.execute(sa.select(schema.schema_info.c.version)).scalar()
    except sa.exc.DBAPIError:
        version = None
    if version == SCHEMA_VERSION:
        return
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table("schema_info"):
                schema.meta.create_all(conn)
                conn.execute(sa.insert(schema.schema_info).values(id=1, version=SCHEMA_VERSION))
                return
            version = conn.execute(sa.select(schema.schema_info.c.version)).scalar_one()
    except sa.exc.OperationalError as exc:
        raise MetadataError(
            f"cannot open the metadata database {engine.url!r}: {exc.orig}"
        ) from None
    if version > SCHEMA_VERSION:
        raise MetadataError(
            f"the metadata database {engine.url!r} has schema v{version}, newer than this"
            f" stepline understands (v{SCHEMA_VERSION}); upgrade stepline"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):  # pragma: no cover - no migration yet
        MIGRATIONS[step](engine)


#: schema version → function that upgrades a database from the version before it
MIGRATIONS: dict[int, Any] = {}
