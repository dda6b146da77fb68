"""Registered models in SQL: each has versions v1, v2, … that point at artifact versions, and aliases.

>>> registry = SqlRegistry(SqlDb(url))
>>> registry.register_version("rental_prices", version_id)   # -> 1
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from stepline.backends.base import ModelVersion, RegisteredModel
from stepline.errors import NotFound, VersionNotFound
from stepline.metadata import schema as t
from stepline.metadata._base import SqlDb

_M, _MV, _MA = t.registered_models, t.model_versions, t.model_aliases


__all__ = ["ModelVersion", "RegisteredModel", "SqlRegistry"]


class SqlRegistry:
    """The registry part of the SQL metadata store (`backends.base.RegistryStore`)."""

    def __init__(self, db: SqlDb) -> None:
        self.db = db

    def _model_row(self, conn: sa.Connection, name: str) -> Any:
        row = conn.execute(sa.select(_M).where(_M.c.name == name)).first()
        if row is None:
            known = conn.execute(sa.select(_M.c.name).order_by(_M.c.name)).scalars()
            raise NotFound(
                f"no registered model {name!r}; registered: {', '.join(known) or '(none yet)'}"
            )
        return row

    def register_version(
        self,
        model: str,
        version_id: int,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> int:
        """Add an artifact version to `model` as its next version (v1 first); returns that number.

        Registering the version the model's newest version already points at returns that one.
        """
        with self.db.tx() as conn:
            conn.execute(
                self.db.insert_ignore(
                    _M, name=model, description=None, tags={}, created_at=time.time()
                )
            )
            m = self._model_row(conn, model)
            if self.db.dialect == "postgresql":
                conn.execute(sa.select(_M.c.id).where(_M.c.id == m.id).with_for_update())
            newest = conn.execute(
                sa.select(_MV.c.version, _MV.c.version_id)
                .where(_MV.c.model_id == m.id)
                .order_by(_MV.c.version.desc())
                .limit(1)
            ).first()
            if newest is not None and newest.version_id == version_id:
                return int(newest.version)
            number = 1 if newest is None else newest.version + 1
            conn.execute(
                sa.insert(_MV).values(
                    model_id=m.id,
                    version=number,
                    version_id=version_id,
                    description=description,
                    tags=tags or {},
                    created_at=time.time(),
                )
            )
            return number

    def _mv_id(self, conn: sa.Connection, model_id: int, model: str, version: int) -> int:
        mv = conn.execute(
            sa.select(_MV.c.id).where(_MV.c.model_id == model_id, _MV.c.version == version)
        ).scalar_one_or_none()
        if mv is None:
            raise VersionNotFound(f"registered model {model!r} has no version v{version}")
        return int(mv)

    def set_model_alias(self, model: str, version: int, alias: str) -> None:
        with self.db.tx() as conn:
            m = self._model_row(conn, model)
            mv = self._mv_id(conn, m.id, model, version)
            conn.execute(sa.delete(_MA).where(_MA.c.model_id == m.id, _MA.c.alias == alias))
            conn.execute(sa.insert(_MA).values(model_id=m.id, alias=alias, model_version_id=mv))

    def remove_model_alias(self, model: str, alias: str) -> None:
        with self.db.tx() as conn:
            m = self._model_row(conn, model)
            if not conn.execute(
                sa.delete(_MA).where(_MA.c.model_id == m.id, _MA.c.alias == alias)
            ).rowcount:
                raise VersionNotFound(f"registered model {model!r} has no alias {alias!r}")

    def update_model(
        self, model: str, description: str | None = None, tags: dict[str, Any] | None = None
    ) -> None:
        with self.db.tx() as conn:
            m = self._model_row(conn, model)
            values: dict[str, Any] = {}
            if description is not None:
                values["description"] = description
            if tags is not None:
                values["tags"] = {**(m.tags or {}), **tags}
            if values:
                conn.execute(sa.update(_M).where(_M.c.id == m.id).values(**values))

    def get_model(self, model: str) -> RegisteredModel:
        with self.db.engine.connect() as conn:
            m = self._model_row(conn, model)
            rows = conn.execute(
                sa.select(
                    _MV,
                    t.projects.c.name.label("project"),
                    t.artifacts.c.name.label("aname"),
                    t.versions.c.version.label("aversion"),
                )
                .join(t.versions, t.versions.c.id == _MV.c.version_id)
                .join(t.artifacts, t.artifacts.c.id == t.versions.c.artifact_id)
                .join(t.projects, t.projects.c.id == t.artifacts.c.project_id)
                .where(_MV.c.model_id == m.id)
                .order_by(_MV.c.version)
            ).all()
            aliases: dict[int, list[str]] = {}
            for a in conn.execute(
                sa.select(_MA).where(_MA.c.model_id == m.id).order_by(_MA.c.alias)
            ):
                aliases.setdefault(a.model_version_id, []).append(a.alias)
        versions = [
            ModelVersion(
                model,
                r.version,
                f"{r.project}/{r.aname}:v{r.aversion}",
                r.version_id,
                r.description,
                r.tags or {},
                r.created_at,
                aliases.get(r.id, []),
            )
            for r in rows
        ]
        return RegisteredModel(m.name, m.description, m.tags or {}, m.created_at, versions)

    def list_models(self) -> list[RegisteredModel]:
        with self.db.engine.connect() as conn:
            names = list(conn.execute(sa.select(_M.c.name).order_by(_M.c.name)).scalars())
        return [self.get_model(n) for n in names]

    def registered_version_ids(self) -> set[int]:
        with self.db.engine.connect() as conn:
            return set(conn.execute(sa.select(_MV.c.version_id)).scalars())
