"""Shared plumbing of the SQL metadata store: the engine, transactions, projects.

One `SqlDb` is shared by the store's parts (`SqlRuns`, `SqlArtifacts`, `SqlRegistry`), which
each hold it rather than inherit from it.

>>> db = SqlDb("sqlite:///.stepline/stepline.db")
>>> with db.tx() as conn:
...     pid = db.project_id(conn, "nyc_airbnb")
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from stepline.errors import ProjectNotFound
from stepline.metadata import schema as t
from stepline.metadata.engine import create_engine
from stepline.metadata.reserve import Reserve, sqlite_path


class SqlDb:
    """An engine, write transactions, and the projects table."""

    def __init__(self, url: str) -> None:
        self.url = url
        #: opened read-only (a store on a read-only mount): reads work, nothing is written
        self.read_only = "mode=ro" in url
        self.engine = create_engine(url)
        self.dialect = self.engine.dialect.name
        database = sqlite_path(url)
        self.reserve = Reserve(database) if database is not None else None
        if self.reserve is not None:
            self.reserve.ensure()
        self._project_ids: dict[str, int] = {}

    @contextmanager
    def tx(self) -> Iterator[sa.Connection]:
        """One transaction (an immediate one on SQLite, so writers queue instead of failing)."""
        with self.engine.begin() as conn:
            yield conn

    def insert_ignore(self, table: sa.Table, **values: Any) -> Any:
        """An INSERT that does nothing when the row's unique key is taken (either dialect)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).values(**values).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        return lite_insert(table).values(**values).on_conflict_do_nothing()

    def project_id(self, conn: sa.Connection, name: str, create: bool = True) -> int:
        """The id of project `name`, made when new unless `create` is False (`ProjectNotFound`)."""
        pid = self._project_ids.get(name)
        if pid is not None:
            return pid
        row = conn.execute(sa.select(t.projects.c.id).where(t.projects.c.name == name)).first()
        if row is None:
            if not create:
                known = [r[0] for r in conn.execute(sa.select(t.projects.c.name))]
                raise ProjectNotFound(
                    f"no project {name!r}; projects: {', '.join(sorted(known)) or '(none yet)'}"
                )
            conn.execute(
                self.insert_ignore(t.projects, name=name, run_counter=0, created_at=time.time())
            )
            row = conn.execute(sa.select(t.projects.c.id).where(t.projects.c.name == name)).first()
            # not cached: this transaction may still roll back, and the id with it
            assert row is not None
            return int(row[0])
        assert row is not None
        self._project_ids[name] = int(row[0])
        return int(row[0])

    def project_names(self) -> list[str]:
        """Every project, sorted."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(t.projects.c.name).order_by("name"))]

    def close(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()
