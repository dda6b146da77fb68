"""The run write path on SQLite, with the stdlib `sqlite3`: what `init`, `log` and `finish` write.

Importing SQLAlchemy takes longer than everything else a short run does, and every component
step is a new Python process that starts a run. So on a SQLite store whose schema is current,
`LocalBackend` sends the run writes here: creating a run, history chunks, heartbeats, merges
into config/summary/info, field updates, the closing write, and reading one run by id back
(for resume and attach). Everything else (queries, artifacts, the registry, creating or
migrating a schema, PostgreSQL) stays with SQLAlchemy (`metadata.runs` and its siblings).

    runs = SqliteRuns.open(Path(".stepline/stepline.db"))   # None: no schema, or not this version
    runs.create_run(record)
    runs.append_history(record.id, 0, 9, chunk)
    runs.end_run(record.id, "finished", exit_code=0, ended_at=time.time())

The two writers share one database and agree on every byte: the same tables (`metadata.schema`;
a test pins `RUN_COLUMNS` to it), JSON written by `json.dumps` as SQLAlchemy's JSON type does,
the same connection set-up and `BEGIN IMMEDIATE` (`metadata.sqlite`), the same crashed-run rule
(`metadata.liveness`), the same full-disk reserve (`metadata.reserve`) and the same chart
previews (`metadata.previews`, into `history_previews`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepline.backends.base import RunRecord
from stepline.errors import RunNotFound
from stepline.metadata import SCHEMA_VERSION, liveness, previews, sqlite
from stepline.metadata.reserve import Reserve, with_reserve
from stepline.metadata.run_info import info_view, split_info
from stepline.metadata.run_names import run_name

#: the columns of `runs` (metadata/schema.py) in table order
RUN_COLUMNS = (
    "id",
    "project_id",
    "name",
    "grp",
    "job_type",
    "state",
    "config",
    "summary",
    "info",
    "tags",
    "notes",
    "host",
    "pid",
    "command",
    "git_commit",
    "git_dirty",
    "python_version",
    "created_at",
    "ended_at",
    "heartbeat_at",
    "exit_code",
    "execution_id",
    "cache_key",
)
#: the columns SQLAlchemy's JSON type stores as `json.dumps` text
JSON_COLUMNS = frozenset({"config", "summary", "info", "tags"})
_SELECT = (
    "SELECT projects.name, "
    + ", ".join(f"runs.{c}" for c in RUN_COLUMNS if c != "project_id")
    + " FROM runs JOIN projects ON projects.id = runs.project_id"
)


class SqliteRuns:
    """One SQLite database's run writes, on one connection shared by this process's threads."""

    def __init__(self, path: Path, heartbeat_timeout: float | None = None) -> None:
        self.path = path
        #: seconds of silence after which a `running` run is read as crashed (None: settings')
        self.heartbeat_timeout = heartbeat_timeout
        self.reserve = Reserve(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._inherited: list[sqlite3.Connection] = []  # a parent's, never used nor closed here
        self._project_ids: dict[str, int] = {}
        self.previews = previews.Store(
            self._history_counts, self._history_chunks, self._save, self._previews
        )

    @classmethod
    def open(cls, path: Path, heartbeat_timeout: float | None = None) -> SqliteRuns | None:
        """A writer for `path`, or None when it holds no schema of this stepline's version
        (missing, older or newer: SQLAlchemy's `migrate` creates, upgrades or refuses it)."""
        if not path.is_file():
            return None
        runs = cls(path, heartbeat_timeout)
        try:
            with runs._lock:
                row = runs._connection().execute("SELECT version FROM schema_info").fetchone()
        except sqlite3.DatabaseError:  # no schema yet, or a damaged file: SQLAlchemy says which
            runs.close()
            return None
        if row is None or row[0] != SCHEMA_VERSION:
            runs.close()
            return None
        runs.reserve.ensure()
        return runs

    # -- connection and transactions ----------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """The connection, opened on first use and again in a forked child."""
        if self._conn is None or self._pid != os.getpid():
            if self._conn is not None:  # a fork: the parent's connection is not ours to touch
                self._inherited.append(self._conn)
            conn = sqlite3.connect(
                self.path, timeout=sqlite.BUSY_TIMEOUT_SECONDS, check_same_thread=False
            )
            sqlite.configure(conn, read_only=False)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from its first statement."""
        with self._lock, self._translated():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:  # no transaction left to roll back
                    pass
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translated():
            yield self._connection()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            error = sqlite.error_for(exc, str(self.path))
            if error is not None:
                raise error from None
            raise

    def _project_id(self, conn: sqlite3.Connection, name: str) -> int:
        pid = self._project_ids.get(name)
        if pid is not None:
            return pid
        row = conn.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
        if row is not None:
            self._project_ids[name] = int(row[0])
            return int(row[0])
        conn.execute(
            "INSERT INTO projects (name, run_counter, created_at) VALUES (?, 0, ?)"
            " ON CONFLICT DO NOTHING",
            (name, time.time()),
        )
        row = conn.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
        return int(row[0])  # not cached: this transaction may still roll back, and the id with it

    @staticmethod
    def _next_name(conn: sqlite3.Connection, project_id: int) -> str:
        (counter,) = conn.execute(
            "UPDATE projects SET run_counter = run_counter + 1 WHERE id = ? RETURNING run_counter",
            (project_id,),
        ).fetchone()
        return run_name(int(counter))

    # -- the writes (the same meaning as metadata.runs.RunsMixin's) -----------------------------
    def create_run(self, rec: RunRecord) -> RunRecord:
        """Insert a run; names it `adjective-noun-N` from the project's counter unless named."""
        with self._tx() as conn:
            project_id = self._project_id(conn, rec.project)
            name = self._next_name(conn, project_id)
            rec.name = rec.name or name
            info, columns = split_info(rec.info)
            rec.execution_id = columns.get("execution_id", rec.execution_id)
            rec.cache_key = columns.get("cache_key", rec.cache_key)
            rec.info = info_view(info, rec.execution_id, rec.cache_key)
            conn.execute(
                "INSERT INTO runs (id, project_id, name, grp, job_type, state, config, summary,"
                " info, tags, notes, host, pid, command, git_commit, git_dirty, python_version,"
                " created_at, heartbeat_at, execution_id, cache_key) VALUES (?, ?, ?, ?, ?, ?,"
                " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    project_id,
                    rec.name,
                    rec.group,
                    rec.job_type,
                    rec.state,
                    json.dumps(rec.config),
                    json.dumps(rec.summary),
                    json.dumps(info),
                    json.dumps(rec.tags),
                    rec.notes,
                    rec.host,
                    rec.pid,
                    rec.command,
                    rec.git_commit,
                    rec.git_dirty,
                    rec.python_version,
                    rec.created_at,
                    rec.created_at,
                    rec.execution_id,
                    rec.cache_key,
                ),
            )
        return rec

    def heartbeat(self, run_id: str) -> None:
        """Refresh `heartbeat_at`; a run called crashed only for silence goes back to running."""
        revived = "state = 'crashed' AND exit_code IS NULL"
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET heartbeat_at = ?,"
                f" state = CASE WHEN {revived} THEN 'running' ELSE state END,"
                f" ended_at = CASE WHEN {revived} THEN NULL ELSE ended_at END"
                " WHERE id = ?",
                (time.time(), run_id),
            )

    def set_log_oid(self, run_id: str, stream: str, oid: str, size: int) -> None:
        """Point the run's `stream` log (stdout, stderr, build) at object `oid`, replacing any."""
        with self._tx() as conn:
            conn.execute("DELETE FROM run_logs WHERE run_id = ? AND stream = ?", (run_id, stream))
            conn.execute(
                "INSERT INTO run_logs (run_id, stream, oid, size) VALUES (?, ?, ?, ?)",
                (run_id, stream, oid, size),
            )

    def append_history(
        self, run_id: str, first_step: int, last_step: int, data: str, rows: list[Any] | None = None
    ) -> None:
        """Store one chunk (a JSON list of [step, timestamp, {key: value}]); beats the heartbeat."""
        with self._tx() as conn:
            hid = conn.execute(
                "INSERT INTO history (run_id, first_step, last_step, data) VALUES (?, ?, ?, ?)",
                (run_id, first_step, last_step, data),
            ).lastrowid
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), run_id))
        self.previews.appended(run_id, int(hid or 0), first_step, last_step, data, rows)

    # -- chart previews (metadata/previews.py) ---------------------------------------------------
    def _history_counts(self, run_id: str) -> tuple[int, int]:
        with self._read() as conn:
            n, steps = conn.execute(
                "SELECT count(*), coalesce(sum(last_step - first_step + 1), 0) FROM history"
                " WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return int(n), int(steps)

    def _history_chunks(self, run_id: str, after: int) -> Iterator[tuple[int, str]]:
        last = after
        while True:  # in pages, not holding the connection while the caller folds them
            with self._read() as conn:
                page = conn.execute(
                    "SELECT id, data FROM history WHERE run_id = ? AND id > ? ORDER BY id LIMIT 50",
                    (run_id, last),
                ).fetchall()
            if not page:
                return
            for hid, data in page:
                yield int(hid), str(data)
            last = int(page[-1][0])

    def _previews(self, run_id: str) -> list[tuple[str, int, int, str]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, history_id, chunks, data FROM history_previews WHERE run_id = ?",
                (run_id,),
            ).fetchall()
        return [(str(k), int(h), int(n), str(d)) for k, h, n, d in rows]

    def _save(
        self, run_id: str, history_id: int, chunks: int, keys: dict[str, previews.KeyPreview]
    ) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM history_previews WHERE run_id = ?", (run_id,))
            conn.executemany(
                "INSERT INTO history_previews (run_id, key, history_id, chunks, points, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, k, history_id, chunks, n, text) for k, n, text in previews.rows(keys)],
            )

    def merge_run(self, run_id: str, column: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge `patch` into a JSON column (config, summary, info) in one transaction."""
        if column not in JSON_COLUMNS:
            raise KeyError(column)
        if column == "info":
            return self._merge_info(run_id, patch)
        with self._tx() as conn:
            row = conn.execute(f"SELECT {column} FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = {**(_stored(row) or {}), **patch}
            conn.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (json.dumps(merged), run_id))
        return merged

    def _merge_info(self, run_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        rest, columns = split_info(patch)
        with self._tx() as conn:
            row = conn.execute(
                "SELECT info, execution_id, cache_key FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            stored, execution_id, key = row if row is not None else (None, None, None)
            merged = {**(_json(stored) or {}), **rest}
            sets = {"info": json.dumps(merged), **columns}
            conn.execute(
                f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                (*sets.values(), run_id),
            )
        return info_view(
            merged, columns.get("execution_id", execution_id), columns.get("cache_key", key)
        )

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "group" in fields:
            fields["grp"] = fields.pop("group")
        if "info" in fields:
            fields["info"], columns = split_info(fields["info"])
            fields.update(columns)
        unknown = set(fields) - set(RUN_COLUMNS)
        if unknown:
            raise KeyError(f"runs has no column {', '.join(sorted(unknown))}")
        if not fields:
            return
        values = [json.dumps(v) if k in JSON_COLUMNS else v for k, v in fields.items()]
        with self._tx() as conn:
            conn.execute(
                f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                (*values, run_id),
            )

    def move_run(self, run_id: str, project: str, renumber: bool = False) -> str:
        """Put a run in `project` (created when new); return its name, made again on `renumber`."""
        with self._tx() as conn:
            project_id = self._project_id(conn, project)
            conn.execute("UPDATE runs SET project_id = ? WHERE id = ?", (project_id, run_id))
            if renumber:
                name = self._next_name(conn, project_id)
                conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))
            (stored,) = conn.execute("SELECT name FROM runs WHERE id = ?", (run_id,)).fetchone()
        return str(stored)

    def end_run(
        self,
        run_id: str,
        state: str | None,
        exit_code: int | None = None,
        ended_at: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> str | None:
        """Merge `info`, then set the final state (`failed` when points were lost), in one
        transaction; on a full disk the reserve is given up for it. Returns the state written."""

        def write() -> str | None:
            final = state
            with self._tx() as conn:
                row = conn.execute("SELECT info FROM runs WHERE id = ?", (run_id,)).fetchone()
                rest, columns = split_info(info or {})
                merged = {**(_stored(row) or {}), **rest}
                values: dict[str, Any] = {"info": json.dumps(merged), **columns} if info else {}
                if final is not None:
                    if final == "finished" and merged.get("lost_points"):
                        final = "failed"
                    values.update(state=final, ended_at=ended_at, exit_code=exit_code)
                if values:
                    conn.execute(
                        f"UPDATE runs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                        (*values.values(), run_id),
                    )
            return final

        written = with_reserve(self.reserve, write)
        self.previews.ended(run_id)
        return written

    # -- the reads a run needs when it resumes or attaches --------------------------------------
    def get_run(self, ref: str, project: str | None = None) -> RunRecord:
        """A run by id, or by name (the newest, within `project` when given); a dead `running`
        one is stored and returned `crashed`."""
        with self._read() as conn:
            row = conn.execute(f"{_SELECT} WHERE runs.id = ?", (ref,)).fetchone()
            if row is None:
                where, args = " WHERE runs.name = ?", [ref]
                if project:
                    where, args = where + " AND projects.name = ?", [ref, project]
                order = " ORDER BY runs.created_at DESC LIMIT 1"
                row = conn.execute(_SELECT + where + order, args).fetchone()
        if row is None:
            where = f" in project {project!r}" if project else ""
            raise RunNotFound(
                f"no run with id or name {ref!r}{where}; list runs with 'stepline runs ls'"
            )
        rec = _to_run(row)
        if liveness.gone([rec], self.heartbeat_timeout):
            with self._tx() as conn:
                conn.execute(
                    "UPDATE runs SET state = 'crashed', ended_at = coalesce(heartbeat_at, 0)"
                    " WHERE id = ? AND state = 'running'",
                    (rec.id,),
                )
            rec.state, rec.ended_at = "crashed", rec.heartbeat_at
        return rec

    def last_step(self, run_id: str) -> int:
        with self._read() as conn:
            (value,) = conn.execute(
                "SELECT max(last_step) FROM history WHERE run_id = ?", (run_id,)
            ).fetchone()
        return -1 if value is None else int(value)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _stored(row: tuple[Any, ...] | None) -> Any:
    """The JSON value a one-column row holds (None for no row)."""
    return None if row is None else _json(row[0])


def _to_run(row: tuple[Any, ...]) -> RunRecord:
    m = dict(zip(("project", *(c for c in RUN_COLUMNS if c != "project_id")), row, strict=True))
    return RunRecord(
        id=m["id"],
        project=m["project"],
        name=m["name"],
        group=m["grp"],
        job_type=m["job_type"],
        state=m["state"],
        config=_json(m["config"]) or {},
        summary=_json(m["summary"]) or {},
        info=info_view(_json(m["info"]), m["execution_id"], m["cache_key"]),
        tags=_json(m["tags"]) or [],
        notes=m["notes"],
        host=m["host"],
        pid=m["pid"],
        command=m["command"],
        git_commit=m["git_commit"],
        git_dirty=None if m["git_dirty"] is None else bool(m["git_dirty"]),
        python_version=m["python_version"],
        created_at=m["created_at"],
        ended_at=m["ended_at"],
        heartbeat_at=m["heartbeat_at"],
        exit_code=m["exit_code"],
        execution_id=m["execution_id"],
        cache_key=m["cache_key"],
    )
