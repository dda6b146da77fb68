"""Runs, their metric history and captured logs, in SQL."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import sqlalchemy as sa

from stepline.backends.base import RunQuery, RunRecord
from stepline.errors import RunNotFound
from stepline.metadata import query
from stepline.metadata import schema as t
from stepline.metadata._base import SqlBase
from stepline.tracking.naming import run_name

_RUN_COLUMNS = [c for c in t.runs.c if c.name != "project_id"]
_HOST = socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunsMixin(SqlBase):
    """The run half of the metadata store."""

    def _runs_select(self) -> sa.Select[Any]:
        return sa.select(t.projects.c.name.label("project"), *_RUN_COLUMNS).join(
            t.projects, t.projects.c.id == t.runs.c.project_id
        )

    def _to_run(self, row: Any) -> RunRecord:
        m = row._mapping
        return RunRecord(
            id=m["id"],
            project=m["project"],
            name=m["name"],
            group=m["grp"],
            job_type=m["job_type"],
            state=m["state"],
            config=m["config"] or {},
            summary=m["summary"] or {},
            info=m["info"] or {},
            tags=m["tags"] or [],
            notes=m["notes"],
            host=m["host"],
            pid=m["pid"],
            command=m["command"],
            git_commit=m["git_commit"],
            git_dirty=m["git_dirty"],
            python_version=m["python_version"],
            created_at=m["created_at"],
            ended_at=m["ended_at"],
            heartbeat_at=m["heartbeat_at"],
            exit_code=m["exit_code"],
        )

    def _reap(self, runs: list[RunRecord]) -> list[RunRecord]:
        """Runs still 'running' whose process on this host is gone crashed (SIGKILL, power loss)."""
        dead = [
            r
            for r in runs
            if r.state == "running" and r.host == _HOST and r.pid and not _pid_alive(r.pid)
        ]
        if dead:
            with self.tx() as conn:
                conn.execute(
                    sa.update(t.runs)
                    .where(t.runs.c.id.in_([r.id for r in dead]), t.runs.c.state == "running")
                    .values(state="crashed", ended_at=sa.func.coalesce(t.runs.c.heartbeat_at, 0))
                )
            for r in dead:
                r.state = "crashed"
                r.ended_at = r.heartbeat_at
        return runs

    def create_run(self, rec: RunRecord) -> RunRecord:
        """Insert a run; names it `adjective-noun-N` from the project's counter unless named."""
        with self.tx() as conn:
            pid = self._project_id(conn, rec.project)
            counter = conn.execute(
                sa.update(t.projects)
                .where(t.projects.c.id == pid)
                .values(run_counter=t.projects.c.run_counter + 1)
                .returning(t.projects.c.run_counter)
            ).scalar_one()
            rec.name = rec.name or run_name(counter)
            conn.execute(
                sa.insert(t.runs).values(
                    id=rec.id,
                    project_id=pid,
                    name=rec.name,
                    grp=rec.group,
                    job_type=rec.job_type,
                    state=rec.state,
                    config=rec.config,
                    summary=rec.summary,
                    info=rec.info,
                    tags=rec.tags,
                    notes=rec.notes,
                    host=rec.host,
                    pid=rec.pid,
                    command=rec.command,
                    git_commit=rec.git_commit,
                    git_dirty=rec.git_dirty,
                    python_version=rec.python_version,
                    created_at=rec.created_at,
                    heartbeat_at=rec.created_at,
                )
            )
        return rec

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "group" in fields:
            fields["grp"] = fields.pop("group")
        with self.tx() as conn:
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**fields))

    def merge_run(self, run_id: str, column: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge `patch` into a JSON column (config, summary, info) in one transaction."""
        col = t.runs.c[column]
        with self.tx() as conn:
            current = conn.execute(sa.select(col).where(t.runs.c.id == run_id)).scalar_one_or_none()
            merged = {**(current or {}), **patch}
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values({column: merged}))
        return merged

    def get_run(self, ref: str, project: str | None = None) -> RunRecord:
        """A run by id, or by name (within `project` when given)."""
        with self.engine.connect() as conn:
            row = conn.execute(self._runs_select().where(t.runs.c.id == ref)).first()
            if row is None:
                q = self._runs_select().where(t.runs.c.name == ref)
                if project:
                    q = q.where(t.projects.c.name == project)
                rows = conn.execute(q.order_by(t.runs.c.created_at.desc())).all()
                row = rows[0] if rows else None
        if row is None:
            where = f" in project {project!r}" if project else ""
            raise RunNotFound(
                f"no run with id or name {ref!r}{where}; list runs with 'stepline runs ls'"
            )
        return self._reap([self._to_run(row)])[0]

    def find_runs(self, q: RunQuery) -> list[RunRecord]:
        stmt = self._runs_select().where(query.where(q.filters))
        if q.project:
            stmt = stmt.where(t.projects.c.name == q.project)
        stmt = stmt.order_by(*query.order_by(q.order or ("-created_at",)))
        if q.limit:
            stmt = stmt.limit(q.limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return self._reap([self._to_run(r) for r in rows])

    def append_history(self, run_id: str, first_step: int, last_step: int, data: str) -> None:
        """Store one chunk: `data` is a JSON list of [step, timestamp, {key: value}]."""
        with self.tx() as conn:
            conn.execute(
                sa.insert(t.history).values(
                    run_id=run_id, first_step=first_step, last_step=last_step, data=data
                )
            )
            conn.execute(
                sa.update(t.runs).where(t.runs.c.id == run_id).values(heartbeat_at=time.time())
            )
            conn.execute(
                sa.update(t.runs).where(t.runs.c.id == run_id).values(heartbeat_at=time.time())
            )

    def history(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            chunks = conn.execute(
                sa.select(t.history.c.data)
                .where(t.history.c.run_id == run_id)
                .order_by(t.history.c.first_step, t.history.c.id)
            ).scalars()
            return [
                {"_step": s, "_timestamp": ts, **row}
                for chunk in chunks
                for s, ts, row in json.loads(chunk)
            ]

    def last_step(self, run_id: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(t.history.c.last_step)).where(t.history.c.run_id == run_id)
            ).scalar()
        return -1 if value is None else int(value)

    def set_log_oid(self, run_id: str, stream: str, oid: str, size: int) -> None:
        with self.tx() as conn:
            conn.execute(
                sa.delete(t.run_logs).where(
                    t.run_logs.c.run_id == run_id, t.run_logs.c.stream == stream
                )
            )
            conn.execute(
                sa.insert(t.run_logs).values(run_id=run_id, stream=stream, oid=oid, size=size)
            )

    def log_oid(self, run_id: str, stream: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.run_logs.c.oid).where(
                    t.run_logs.c.run_id == run_id, t.run_logs.c.stream == stream
                )
            ).scalar_one_or_none()

    def log_oids(self) -> set[str]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.select(t.run_logs.c.oid))}

    def media_oids(self) -> set[str]:
        """Objects that logged media (images, tables) point at, from history rows and summaries."""
        import re

        pattern = re.compile(r'"_type":\s*"(?:image|table)-file",\s*"digest":\s*"([0-9a-f]+)"')
        found: set[str] = set()
        with self.engine.connect() as conn:
            for (data,) in conn.execute(
                sa.select(t.history.c.data).where(t.history.c.data.like('%-file"%'))
            ):
                found.update(pattern.findall(data))
            for (summary,) in conn.execute(sa.select(t.runs.c.summary)):
                found.update(pattern.findall(json.dumps(summary or {})))
        return found
