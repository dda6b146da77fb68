"""Artifacts, versions, aliases and usage edges, in SQL. Version numbers are allocated under a lock.

>>> artifacts = SqlArtifacts(SqlDb(url))
>>> version, created = artifacts.commit_version("p", "data", "dataset", manifest, None, {}, [], None)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from stepline.backends.base import ArtifactRecord, RunRecord, VersionRecord
from stepline.errors import ArtifactNotFound, Conflict, VersionNotFound
from stepline.metadata import schema as t
from stepline.metadata._base import SqlDb
from stepline.metadata.runs import runs_select, to_run
from stepline.store.manifest import Manifest

_V = t.versions
_A = t.artifacts


class SqlArtifacts:
    """The artifact part of the SQL metadata store (`backends.base.ArtifactStore`, but for
    `materialize`, which needs the objects), over a shared `SqlDb`."""

    def __init__(self, db: SqlDb) -> None:
        self.db = db

    def _versions_select(self) -> sa.Select[Any]:
        return (
            sa.select(
                _V,
                t.projects.c.name.label("project"),
                _A.c.name.label("aname"),
                _A.c.type.label("atype"),
            )
            .join(_A, _A.c.id == _V.c.artifact_id)
            .join(t.projects, t.projects.c.id == _A.c.project_id)
        )

    def _to_version(self, conn: sa.Connection, row: Any) -> VersionRecord:
        m = row._mapping
        names = conn.execute(
            sa.select(t.aliases.c.alias)
            .where(t.aliases.c.version_id == m["id"])
            .order_by(t.aliases.c.alias)
        ).scalars()
        return VersionRecord(
            id=m["id"],
            project=m["project"],
            name=m["aname"],
            type=m["atype"],
            version=m["version"],
            digest=m["digest"],
            manifest=Manifest.from_json(m["manifest"]),
            size=m["size"],
            file_count=m["file_count"],
            description=m["description"],
            metadata=m["metadata"] or {},
            created_at=m["created_at"],
            run_id=m["run_id"],
            aliases=sorted(names, key=lambda a: (a != "latest", a)),
        )

    def _artifact_row(
        self, conn: sa.Connection, project: str, name: str, lock: bool = False
    ) -> Any:
        pid = self.db.project_id(conn, project, create=False)
        q = sa.select(_A).where(_A.c.project_id == pid, _A.c.name == name)
        if lock and self.db.dialect == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            known = conn.execute(
                sa.select(_A.c.name).where(_A.c.project_id == pid).order_by(_A.c.name)
            ).scalars()
            raise ArtifactNotFound(
                f"project {project!r} has no artifact {name!r};"
                f" artifacts: {', '.join(known) or '(none yet)'}"
            )
        return row

    def _set_alias(
        self, conn: sa.Connection, artifact_id: int, version_id: int, alias: str
    ) -> None:
        conn.execute(
            sa.delete(t.aliases).where(
                t.aliases.c.artifact_id == artifact_id, t.aliases.c.alias == alias
            )
        )
        conn.execute(
            sa.insert(t.aliases).values(artifact_id=artifact_id, alias=alias, version_id=version_id)
        )

    def commit_version(
        self,
        project: str,
        name: str,
        type: str,
        manifest: Manifest,
        description: str | None,
        metadata: dict[str, Any],
        aliases: Sequence[str],
        run_id: str | None,
    ) -> tuple[VersionRecord, bool]:
        """Commit a version unless its content equals that of an existing one; returns
        (version, created).

        As in W&B (wandb PR #11340), content equal to ANY existing version of the artifact
        (not only `latest`) returns that version, and `latest` plus `aliases` move to it:
        logging A, B, A gives v0, v1, then v0 again with `latest` on v0.
        """
        digest = manifest.digest()
        with self.db.tx() as conn:
            pid = self.db.project_id(conn, project)
            conn.execute(
                self.db.insert_ignore(
                    _A, project_id=pid, name=name, type=type, created_at=time.time()
                )
            )
            art = self._artifact_row(conn, project, name, lock=True)
            if art.type != type:
                raise Conflict(
                    f"artifact {project}/{name} already exists with type {art.type!r}, not {type!r};"
                    " use that type or another name"
                )
            same = conn.execute(
                self._versions_select()
                .where(_V.c.artifact_id == art.id, _V.c.digest == digest)
                .order_by(_V.c.version.desc())
                .limit(1)
            ).first()
            if same is not None:
                for alias in ("latest", *aliases):
                    self._set_alias(conn, art.id, same._mapping["id"], alias)
                if run_id is not None:
                    self._record_output(conn, run_id, same._mapping["id"], again=True)
                return self._to_version(conn, same), False
            top = conn.execute(
                sa.select(sa.func.max(_V.c.version)).where(_V.c.artifact_id == art.id)
            ).scalar()
            number = 0 if top is None else top + 1
            vid = conn.execute(
                sa.insert(_V)
                .values(
                    artifact_id=art.id,
                    version=number,
                    digest=digest,
                    manifest=manifest.to_json(),
                    size=manifest.size,
                    file_count=len(manifest.entries),
                    description=description,
                    metadata=metadata,
                    created_at=time.time(),
                    run_id=run_id,
                )
                .returning(_V.c.id)
            ).scalar_one()
            for alias in ("latest", *aliases):
                self._set_alias(conn, art.id, vid, alias)
            if run_id is not None:
                self._record_output(conn, run_id, vid)
            row = conn.execute(self._versions_select().where(_V.c.id == vid)).one()
            return self._to_version(conn, row), True

    def _alias_listing(self, conn: sa.Connection, artifact_id: int) -> str:
        rows = conn.execute(
            sa.select(t.aliases.c.alias, _V.c.version)
            .join(_V, _V.c.id == t.aliases.c.version_id)
            .where(t.aliases.c.artifact_id == artifact_id)
            .order_by(t.aliases.c.alias)
        ).all()
        return ", ".join(f"{a} (v{v})" for a, v in rows) or "(none)"

    def resolve(
        self, project: str, name: str, selector: str, scope: str | None = None
    ) -> VersionRecord:
        """The version `selector` (alias or vN) names; `latest` within an execution `scope` first."""
        with self.db.engine.connect() as conn:
            art = self._artifact_row(conn, project, name)
            q = self._versions_select().where(_V.c.artifact_id == art.id)
            row = None
            if selector == "latest" and scope:
                # the newest version a run of this execution logged or reused from the cache
                row = conn.execute(
                    q.join(t.outputs, t.outputs.c.version_id == _V.c.id)
                    .join(t.runs, t.runs.c.id == t.outputs.c.run_id)
                    .where(t.runs.c.execution_id == scope)
                    .order_by(t.outputs.c.logged_at.desc(), _V.c.version.desc())
                    .limit(1)
                ).first()
            if row is None and selector[:1] == "v" and selector[1:].isdigit():
                row = conn.execute(q.where(_V.c.version == int(selector[1:]))).first()
                if row is None:
                    top = conn.execute(
                        sa.select(sa.func.max(_V.c.version)).where(_V.c.artifact_id == art.id)
                    ).scalar()
                    have = f"versions: v0 to v{top}" if top is not None else "no versions yet"
                    raise VersionNotFound(f"artifact {name!r} has no version {selector!r}; {have}")
            elif row is None:
                row = conn.execute(
                    q.join(t.aliases, t.aliases.c.version_id == _V.c.id).where(
                        t.aliases.c.artifact_id == art.id, t.aliases.c.alias == selector
                    )
                ).first()
                if row is None:
                    raise VersionNotFound(
                        f"artifact {name!r} has no alias {selector!r};"
                        f" aliases: {self._alias_listing(conn, art.id)}"
                    )
            return self._to_version(conn, row)

    def set_alias(self, project: str, name: str, version: int, alias: str) -> None:
        with self.db.tx() as conn:
            art = self._artifact_row(conn, project, name)
            vid = conn.execute(
                sa.select(_V.c.id).where(_V.c.artifact_id == art.id, _V.c.version == version)
            ).scalar_one_or_none()
            if vid is None:
                raise VersionNotFound(f"artifact {name!r} has no version v{version}")
            self._set_alias(conn, art.id, vid, alias)

    def remove_alias(self, project: str, name: str, alias: str) -> None:
        with self.db.tx() as conn:
            art = self._artifact_row(conn, project, name)
            gone = conn.execute(
                sa.delete(t.aliases).where(
                    t.aliases.c.artifact_id == art.id, t.aliases.c.alias == alias
                )
            ).rowcount
            if not gone:
                raise VersionNotFound(
                    f"artifact {name!r} has no alias {alias!r};"
                    f" aliases: {self._alias_listing(conn, art.id)}"
                )

    def _record_output(
        self, conn: sa.Connection, run_id: str, version_id: int, again: bool = False
    ) -> None:
        """The run -> version output edge; `again` moves an existing edge's time to now, so
        a run that logs A, B, A resolves `latest` in its execution to A."""
        now = time.time()
        conn.execute(
            self.db.insert_ignore(t.outputs, run_id=run_id, version_id=version_id, logged_at=now)
        )
        if again:
            conn.execute(
                sa.update(t.outputs)
                .where(t.outputs.c.run_id == run_id, t.outputs.c.version_id == version_id)
                .values(logged_at=now)
            )

    def record_output(self, run_id: str, version_id: int) -> None:
        """Link a run to a version it produced without creating it (identical content, cache hit)."""
        with self.db.tx() as conn:
            self._record_output(conn, run_id, version_id)

    def record_use(self, run_id: str, version_id: int) -> None:
        with self.db.tx() as conn:
            conn.execute(
                self.db.insert_ignore(
                    t.usages, run_id=run_id, version_id=version_id, used_at=time.time()
                )
            )

    def list_artifacts(self, project: str | None = None) -> list[ArtifactRecord]:
        counts = (
            sa.select(
                _V.c.artifact_id,
                sa.func.count().label("n"),
                sa.func.max(_V.c.version).label("top"),
            )
            .group_by(_V.c.artifact_id)
            .subquery()
        )
        q = (
            sa.select(_A, t.projects.c.name.label("project"), counts.c.n, counts.c.top)
            .join(t.projects, t.projects.c.id == _A.c.project_id)
            .outerjoin(counts, counts.c.artifact_id == _A.c.id)
            .order_by(t.projects.c.name, _A.c.name)
        )
        if project:
            q = q.where(t.projects.c.name == project)
        with self.db.engine.connect() as conn:
            return [
                ArtifactRecord(r.id, r.project, r.name, r.type, r.created_at, r.n or 0, r.top)
                for r in conn.execute(q)
            ]

    def _versions(self, where: Any, order: Any = None) -> list[VersionRecord]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                self._versions_select().where(where).order_by(_V.c.id if order is None else order)
            ).all()
            return [self._to_version(conn, r) for r in rows]

    def list_versions(self, project: str, name: str) -> list[VersionRecord]:
        with self.db.engine.connect() as conn:
            art = self._artifact_row(conn, project, name)
        return self._versions(_V.c.artifact_id == art.id, _V.c.version)

    def outputs(self, run_id: str) -> list[VersionRecord]:
        logged = sa.select(t.outputs.c.version_id).where(t.outputs.c.run_id == run_id)
        return self._versions(sa.or_(_V.c.run_id == run_id, _V.c.id.in_(logged)))

    def producers(self, version_id: int) -> list[RunRecord]:
        """The run that created a version and the runs that logged or reused it since."""
        logged = sa.select(t.outputs.c.run_id).where(t.outputs.c.version_id == version_id)
        creator = sa.select(_V.c.run_id).where(_V.c.id == version_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                runs_select()
                .where(sa.or_(t.runs.c.id.in_(logged), t.runs.c.id.in_(creator)))
                .order_by(t.runs.c.created_at)
            ).all()
        return [to_run(r) for r in rows]

    def inputs(self, run_id: str) -> list[VersionRecord]:
        used = sa.select(t.usages.c.version_id).where(t.usages.c.run_id == run_id)
        return self._versions(_V.c.id.in_(used))

    def consumers(self, version_id: int) -> list[RunRecord]:
        users = sa.select(t.usages.c.run_id).where(t.usages.c.version_id == version_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                runs_select().where(t.runs.c.id.in_(users)).order_by(t.runs.c.created_at)
            ).all()
        return [to_run(r) for r in rows]

    def iter_versions(self) -> Iterator[VersionRecord]:
        yield from self._versions(sa.true())

    def delete_version(self, version_id: int) -> None:
        with self.db.tx() as conn:
            conn.execute(sa.delete(t.aliases).where(t.aliases.c.version_id == version_id))
            conn.execute(sa.delete(t.usages).where(t.usages.c.version_id == version_id))
            conn.execute(sa.delete(t.outputs).where(t.outputs.c.version_id == version_id))
            conn.execute(sa.delete(_V).where(_V.c.id == version_id))
