"""Shared plumbing of the SQL metadata store: the engine, transactions, projects, row mapping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from stepline.errors import ProjectNotFound
from stepline.metadata import schema as t
from stepline.metadata.engine import create_engine


class SqlBase:
    """An engine, write transactions, and the projects table."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.dialect = self.engine.dialect.name
        self._project_ids: dict[str, int] = {}

    @contextmanager
    def tx(self) -> Iterator[sa.Connection]:
        """One transaction (an immediate one on SQLite, so writers queue instead of failing)."""
        with self.engine.begin() as conn:
            yield conn

    def _insert_ignore(self, table: sa.Table, **values: Any) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).values(**values).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        return lite_insert(table).values(**values).on_conflict_do_nothing()

    def _project_id(self, conn: sa.Connection, name: str, create: bool = True) -> int:
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
                self._insert_ignore(t.projects, name=name, run_counter=0, created_at=time.time())
            )
            row = conn.execute(sa.select(t.projects.c.id).where(t.projects.c.name == name)).first()
        assert row is not None
        self._project_ids[name] = int(row[0])
        return int(row[0])

    def project_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(t.projects.c.name).order_by("name"))]

    def close(self) -> None:
        self.engine.dispose()
