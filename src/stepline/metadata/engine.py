"""Engines for SQLite (WAL, immediate transactions, busy timeout) and PostgreSQL, and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stepline.errors import MetadataError, MissingExtra
from stepline.metadata import SCHEMA_VERSION, schema, sqlite


def sqlite_path(url: str) -> str:
    """The file a `sqlite:///…` URL names (`file:` URIs and their query stripped)."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if path.startswith("file:"):
        path = path[len("file:") :].split("?", 1)[0]
    return path


def _is_read_only(url: str) -> bool:
    return "mode=ro" in url


def _translate_errors(engine: sa.Engine, path: str) -> None:
    """A damaged or read-only SQLite file becomes a MetadataError that says what to do."""

    @sa.event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        error = sqlite.error_for(context.original_exception, path)
        if error is not None:
            raise error from None


def _sqlite_engine(url: str) -> sa.Engine:
    path = sqlite_path(url)
    read_only = _is_read_only(url)
    if path and path != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": sqlite.BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        sqlite.configure(dbapi_conn, read_only)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # take the write lock up front: two writers never both read, then both insert v3
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    _translate_errors(engine, path)
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


#: the PostgreSQL advisory lock that creating and migrating the schema holds ("stepline" in ASCII)
SCHEMA_LOCK = 0x737465706C696E65


def migrate(engine: sa.Engine) -> None:
    """Create the schema, or check the stored one is one this version understands.

    Many processes may open a fresh database at once (a pipeline's first steps, a sweep), so the
    check and the creation happen under one lock: `pg_advisory_xact_lock` on PostgreSQL, the
    write lock (`BEGIN IMMEDIATE`, see `_sqlite_engine`) on SQLite. The first process creates
    or upgrades the schema; the others wait, then find it done.
    """
    try:
        with engine.connect() as conn:  # the common case: one cheap read, no reflection
            version = conn.execute(sa.select(schema.schema_info.c.version)).scalar()
    except sa.exc.DBAPIError:
        version = None
    if version == SCHEMA_VERSION:
        return
    if engine.dialect.name == "sqlite" and _is_read_only(str(engine.url)):
        path = sqlite_path(str(engine.url))
        if version is None or version > SCHEMA_VERSION:
            raise MetadataError(
                f"the read-only metadata database {path} has"
                f" {'no stepline schema' if version is None else f'schema v{version}'};"
                f" this stepline reads v{SCHEMA_VERSION}"
            )
        # v3 added columns the reads select: an older store is upgraded by one writable open
        raise MetadataError(
            f"the read-only metadata database {path} has schema v{version}; this stepline"
            f" reads v{SCHEMA_VERSION}: open the store once where it is writable to upgrade it"
        )
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK)))
            if not sa.inspect(conn).has_table("schema_info"):
                schema.meta.create_all(conn)
                conn.execute(sa.insert(schema.schema_info).values(id=1, version=SCHEMA_VERSION))
                return
            version = conn.execute(sa.select(schema.schema_info.c.version)).scalar_one()
            if version > SCHEMA_VERSION:
                raise MetadataError(
                    f"the metadata database {engine.url!r} has schema v{version}, newer than this"
                    f" stepline understands (v{SCHEMA_VERSION}); upgrade stepline"
                )
            from stepline.metadata.migrations import MIGRATIONS

            for step in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[step](conn)
            if version < SCHEMA_VERSION:
                conn.execute(sa.update(schema.schema_info).values(version=SCHEMA_VERSION))
    except sa.exc.OperationalError as exc:
        raise MetadataError(
            f"cannot open the metadata database {engine.url!r}: {exc.orig}"
        ) from None
