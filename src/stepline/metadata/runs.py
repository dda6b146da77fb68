"""Runs, their metric history and captured logs, in SQL.

>>> runs = SqlRuns(SqlDb(url))
>>> runs.create_run(record); runs.get_run(record.id)
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from stepline.backends.base import RunQuery, RunRecord
from stepline.errors import RunNotFound, UsageError
from stepline.formats import fastjson
from stepline.metadata import liveness, previews, query
from stepline.metadata import schema as t
from stepline.metadata._base import SqlDb
from stepline.metadata.reserve import with_reserve
from stepline.metadata.run_info import info_view, split_info
from stepline.metadata.run_names import run_name
from stepline.settings import HEARTBEAT_TIMEOUT

_RUN_COLUMNS = [c for c in t.runs.c if c.name != "project_id"]


def runs_select() -> sa.Select[Any]:
    """Runs with their project's name as `project`."""
    return sa.select(t.projects.c.name.label("project"), *_RUN_COLUMNS).join(
        t.projects, t.projects.c.id == t.runs.c.project_id
    )


def to_run(row: Any) -> RunRecord:
    """The record of a `runs_select()` row."""
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
        info=info_view(m["info"], m["execution_id"], m["cache_key"]),
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
        execution_id=m["execution_id"],
        cache_key=m["cache_key"],
    )


class SqlRuns:
    """The run part of the SQL metadata store (`backends.base.RunStore`), over a shared `SqlDb`."""

    def __init__(self, db: SqlDb, heartbeat_timeout: float = HEARTBEAT_TIMEOUT) -> None:
        self.db = db
        #: seconds of heartbeat silence after which a `running` run is `crashed` (the backend's
        #: settings set it: STEPLINE_HEARTBEAT_TIMEOUT)
        self.heartbeat_timeout = heartbeat_timeout
        self.previews = previews.Store(
            self._history_counts, self._history_chunks, self._save, self._previews
        )

    def reap(self, runs: list[RunRecord]) -> list[RunRecord]:
        """Runs still 'running' whose process is gone crashed (SIGKILL, power loss, lost host).

        Which runs are gone is `metadata.liveness.gone`'s rule (a dead PID on this host, or a
        heartbeat older than `STEPLINE_HEARTBEAT_TIMEOUT`).
        """
        dead = liveness.gone(runs, self.heartbeat_timeout)
        if dead and not self.db.read_only:
            with self.db.tx() as conn:
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
        with self.db.tx() as conn:
            pid = self.db.project_id(conn, rec.project)
            counter = conn.execute(
                sa.update(t.projects)
                .where(t.projects.c.id == pid)
                .values(run_counter=t.projects.c.run_counter + 1)
                .returning(t.projects.c.run_counter)
            ).scalar_one()
            rec.name = rec.name or run_name(counter)
            info, columns = split_info(rec.info)
            rec.execution_id = columns.get("execution_id", rec.execution_id)
            rec.cache_key = columns.get("cache_key", rec.cache_key)
            rec.info = info_view(info, rec.execution_id, rec.cache_key)
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
                    info=info,
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
                    execution_id=rec.execution_id,
                    cache_key=rec.cache_key,
                )
            )
        return rec

    def heartbeat(self, run_id: str) -> None:
        """The run's process is alive: refresh `heartbeat_at`.

        A run a reader called `crashed` for a stale heartbeat (exit code unset) that beats again
        was only silent (a suspended laptop, a stalled process): it goes back to `running`.
        """
        revived = sa.and_(t.runs.c.state == "crashed", t.runs.c.exit_code.is_(None))
        with self.db.tx() as conn:
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    heartbeat_at=time.time(),
                    state=sa.case((revived, "running"), else_=t.runs.c.state),
                    ended_at=sa.case((revived, None), else_=t.runs.c.ended_at),
                )
            )

    def end_run(
        self,
        run_id: str,
        state: str | None,
        exit_code: int | None = None,
        ended_at: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> str | None:
        """Close a run in one transaction: merge `info`, then set its final state.

        A run whose info counts lost metric points (`lost_points`) ends `failed`, not
        `finished`, whichever process lost them. `state=None` only merges `info` (a process
        attached to a run it does not own). On a full disk the store's reserve is given up
        for this write (see `metadata.reserve`). Returns the state written.
        """

        def write() -> str | None:
            final = state
            with self.db.tx() as conn:
                current = conn.execute(
                    sa.select(t.runs.c.info).where(t.runs.c.id == run_id)
                ).scalar_one_or_none()
                patch, columns = split_info(info or {})
                merged = {**(current or {}), **patch}
                values: dict[str, Any] = {"info": merged, **columns} if info else {}
                if final is not None:
                    if final == "finished" and merged.get("lost_points"):
                        final = "failed"
                    values.update(state=final, ended_at=ended_at, exit_code=exit_code)
                if values:
                    conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**values))
            return final

        written = with_reserve(self.db.reserve, write)
        self.previews.ended(run_id)
        return written

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "group" in fields:
            fields["grp"] = fields.pop("group")
        if "info" in fields:
            fields["info"], columns = split_info(fields["info"])
            fields.update(columns)
        with self.db.tx() as conn:
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**fields))

    def move_run(self, run_id: str, project: str, renumber: bool = False) -> str:
        """Put a run in `project` (created when new); return its name.

        With `renumber`, the name is made again from the new project's run counter, so an
        automatic `adjective-noun-N` name keeps counting in the project it now belongs to.
        """
        with self.db.tx() as conn:
            pid = self.db.project_id(conn, project)
            values: dict[str, Any] = {"project_id": pid}
            if renumber:
                counter = conn.execute(
                    sa.update(t.projects)
                    .where(t.projects.c.id == pid)
                    .values(run_counter=t.projects.c.run_counter + 1)
                    .returning(t.projects.c.run_counter)
                ).scalar_one()
                values["name"] = run_name(counter)
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**values))
            name = conn.execute(sa.select(t.runs.c.name).where(t.runs.c.id == run_id)).scalar_one()
        return str(name)

    def merge_run(self, run_id: str, column: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge `patch` into a JSON column (config, summary, info) in one transaction.

        Returns the merged document (for `info`, with the keys kept in columns)."""
        if column == "info":
            return self._merge_info(run_id, patch)
        col = t.runs.c[column]
        with self.db.tx() as conn:
            current = conn.execute(sa.select(col).where(t.runs.c.id == run_id)).scalar_one_or_none()
            merged = {**(current or {}), **patch}
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values({column: merged}))
        return merged

    def _merge_info(self, run_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        rest, columns = split_info(patch)
        r = t.runs.c
        with self.db.tx() as conn:
            row = conn.execute(
                sa.select(r.info, r.execution_id, r.cache_key).where(r.id == run_id)
            ).first()
            current, execution_id, key = row if row is not None else (None, None, None)
            merged = {**(current or {}), **rest}
            conn.execute(sa.update(t.runs).where(r.id == run_id).values(info=merged, **columns))
        return info_view(
            merged,
            columns.get("execution_id", execution_id),
            columns.get("cache_key", key),
        )

    def get_run(self, ref: str, project: str | None = None) -> RunRecord:
        """A run by id, or by name (within `project` when given)."""
        with self.db.engine.connect() as conn:
            row = conn.execute(runs_select().where(t.runs.c.id == ref)).first()
            if row is None:
                q = runs_select().where(t.runs.c.name == ref)
                if project:
                    q = q.where(t.projects.c.name == project)
                rows = conn.execute(q.order_by(t.runs.c.created_at.desc())).all()
                row = rows[0] if rows else None
        if row is None:
            where = f" in project {project!r}" if project else ""
            raise RunNotFound(
                f"no run with id or name {ref!r}{where}; list runs with 'stepline runs ls'"
            )
        return self.reap([to_run(row)])[0]

    def _check_keys(self, q: RunQuery) -> None:
        """A config/summary key that no run of the project has is a typo: say which keys exist."""
        keys = list(dict.fromkeys(query.json_keys(q.filters, q.order or ())))
        if not keys:
            return
        scope = sa.select(t.runs.c.id).join(t.projects, t.projects.c.id == t.runs.c.project_id)
        if q.project:
            scope = scope.where(t.projects.c.name == q.project)
        with self.db.engine.connect() as conn:
            if conn.execute(scope.limit(1)).first() is None:
                return  # no runs at all: nothing to be wrong about
            for key in keys:
                hit = conn.execute(scope.where(query.json_key_present(key)).limit(1)).first()
                if hit is not None:
                    continue
                root = key.split(".", 1)[0]
                column = t.runs.c["summary" if root == "summary_metrics" else root]
                cols = scope.with_only_columns(column)
                present: set[str] = set()
                for (doc,) in conn.execute(cols):
                    present.update(f"{root}.{k}" for k in (doc or {}))
                if key in present:
                    continue  # held, but null in every run
                where = f"of project {q.project!r}" if q.project else "in the store"
                shown = sorted(present)
                listing = ", ".join(shown[:30]) + (" …" if len(shown) > 30 else "")
                tails = {k.split(".", 1)[1]: k for k in shown}
                close = difflib.get_close_matches(key.split(".", 1)[1], list(tails), n=1)
                hint = f"did you mean {tails[close[0]]!r}? " if close else ""
                raise UsageError(
                    f"no run {where} has {key!r}; {hint}{root} keys: {listing or 'none logged'}"
                )

    def find_runs(self, q: RunQuery) -> list[RunRecord]:
        self._check_keys(q)
        stmt = runs_select().where(query.where(q.filters))
        if q.project:
            stmt = stmt.where(t.projects.c.name == q.project)
        stmt = stmt.order_by(*query.order_by(q.order or ("-created_at",)))
        if q.limit:
            stmt = stmt.limit(q.limit)
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return self.reap([to_run(r) for r in rows])

    def append_history(
        self, run_id: str, first_step: int, last_step: int, data: str, rows: list[Any] | None = None
    ) -> None:
        """Store one chunk: `data` is a JSON list of [step, timestamp, {key: value}]."""
        with self.db.tx() as conn:
            hid = conn.execute(
                sa.insert(t.history).values(
                    run_id=run_id, first_step=first_step, last_step=last_step, data=data
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(
                sa.update(t.runs).where(t.runs.c.id == run_id).values(heartbeat_at=time.time())
            )
        self.previews.appended(run_id, int(hid), first_step, last_step, data, rows)

    # -- chart previews (metadata/previews.py) ---------------------------------------------------
    def _history_counts(self, run_id: str) -> tuple[int, int]:
        h = t.history.c
        with self.db.engine.connect() as conn:
            n, steps = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(h.last_step - h.first_step + 1), 0),
                ).where(h.run_id == run_id)
            ).one()
        return int(n), int(steps)

    def _history_chunks(self, run_id: str, after: int) -> Iterator[tuple[int, str]]:
        with self.db.engine.connect() as conn:
            for hid, data in conn.execute(
                sa.select(t.history.c.id, t.history.c.data)
                .where(t.history.c.run_id == run_id, t.history.c.id > after)
                .order_by(t.history.c.id)
            ):
                yield int(hid), str(data)

    def _previews(self, run_id: str) -> list[tuple[str, int, int, str]]:
        p = t.history_previews.c
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(p.key, p.history_id, p.chunks, p.data).where(p.run_id == run_id)
            ).all()
        return [(str(k), int(h), int(n), str(d)) for k, h, n, d in rows]

    def _save(
        self, run_id: str, history_id: int, chunks: int, keys: dict[str, previews.KeyPreview]
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(sa.delete(t.history_previews).where(t.history_previews.c.run_id == run_id))
            stored = [
                {
                    "run_id": run_id,
                    "key": k,
                    "history_id": history_id,
                    "chunks": chunks,
                    "points": n,
                    "data": text,
                }
                for k, n, text in previews.rows(keys)
            ]
            if stored:
                conn.execute(sa.insert(t.history_previews), stored)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        with self.db.engine.connect() as conn:
            chunks = conn.execute(
                sa.select(t.history.c.data)
                .where(t.history.c.run_id == run_id)
                .order_by(t.history.c.first_step, t.history.c.id)
            ).scalars()
            return [
                {"_step": s, "_timestamp": ts, **row}
                for chunk in chunks
                for s, ts, row in fastjson.loads(chunk)
            ]

    def last_step(self, run_id: str) -> int:
        with self.db.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(t.history.c.last_step)).where(t.history.c.run_id == run_id)
            ).scalar()
        return -1 if value is None else int(value)

    def project_names(self) -> list[str]:
        return self.db.project_names()

    def set_log_oid(self, run_id: str, stream: str, oid: str, size: int) -> None:
        with self.db.tx() as conn:
            conn.execute(
                sa.delete(t.run_logs).where(
                    t.run_logs.c.run_id == run_id, t.run_logs.c.stream == stream
                )
            )
            conn.execute(
                sa.insert(t.run_logs).values(run_id=run_id, stream=stream, oid=oid, size=size)
            )

    def log_oid(self, run_id: str, stream: str) -> str | None:
        with self.db.engine.connect() as conn:
            return conn.execute(
                sa.select(t.run_logs.c.oid).where(
                    t.run_logs.c.run_id == run_id, t.run_logs.c.stream == stream
                )
            ).scalar_one_or_none()

    def log_oids(self) -> set[str]:
        with self.db.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.select(t.run_logs.c.oid))}

    def media_oids(self) -> set[str]:
        """Objects that logged media (images, tables) point at, from history rows and summaries."""
        import re

        pattern = re.compile(r'"_type":\s*"(?:image|table)-file",\s*"digest":\s*"([0-9a-f]+)"')
        found: set[str] = set()
        with self.db.engine.connect() as conn:
            for (data,) in conn.execute(
                sa.select(t.history.c.data).where(t.history.c.data.like('%-file"%'))
            ):
                found.update(pattern.findall(data))
            for (summary,) in conn.execute(sa.select(t.runs.c.summary)):
                found.update(pattern.findall(json.dumps(summary or {})))
        return found
