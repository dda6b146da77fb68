"""Schema migrations: each upgrades a database by one version, inside one transaction.

v2  manifest digests over canonical JSON instead of `path:digest` lines (format 1 let a name
    holding ':' and a newline forge another manifest's digest). Every version's digest is
    recomputed from its stored manifest; version numbers, aliases and lineage are unchanged.
    Step-cache keys made from the old digests no longer match, so each cached step runs once
    more after the upgrade.
v3  pipeline facts in typed, indexed columns: `runs.execution_id` and `runs.cache_key` (moved out
    of the `info` JSON, where they were the keys `execution` and `cache_key`), and an
    `executions` table, filled from the execution runs (job type `pipeline`) already stored.
v4  a `history_previews` table (chart previews, metadata/previews.py), empty: runs logged before
    it get theirs when they log more; their charts parse the history as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from stepline.metadata import schema as t
from stepline.store.manifest import Manifest


def _v2_manifest_digests(conn: sa.Connection) -> None:
    rows = conn.execute(sa.select(t.versions.c.id, t.versions.c.manifest)).all()
    for vid, text in rows:
        conn.execute(
            sa.update(t.versions)
            .where(t.versions.c.id == vid)
            .values(digest=Manifest.from_json(text).digest())
        )


def _v3_pipeline_columns(conn: sa.Connection) -> None:
    inspector = sa.inspect(conn)
    have = {c["name"] for c in inspector.get_columns("runs")}
    for column in ("execution_id", "cache_key"):
        if column not in have:
            conn.execute(sa.text(f"ALTER TABLE runs ADD COLUMN {column} VARCHAR(64)"))
    indexed = {i["name"] for i in inspector.get_indexes("runs")}
    for index in t.runs.indexes:
        if index.name in ("ix_runs_execution", "ix_runs_cache_key") and index.name not in indexed:
            index.create(conn)
    t.executions.create(conn, checkfirst=True)
    runs = sa.table(
        "runs",
        sa.column("id"),
        sa.column("project_id"),
        sa.column("name"),
        sa.column("grp"),
        sa.column("job_type"),
        sa.column("state"),
        sa.column("config", sa.JSON),
        sa.column("info", sa.JSON),
        sa.column("created_at"),
        sa.column("ended_at"),
        sa.column("execution_id"),
        sa.column("cache_key"),
    )
    executions: dict[str, dict[str, Any]] = {}
    for row in conn.execute(sa.select(runs)).mappings():
        info = dict(row["info"] or {})
        if "execution" not in info and "cache_key" not in info:
            continue
        execution = info.pop("execution", None)
        key = info.pop("cache_key", None)
        conn.execute(
            sa.update(runs)
            .where(runs.c.id == row["id"])
            .values(
                info=info,
                execution_id=None if execution is None else str(execution),
                cache_key=None if key is None else str(key),
            )
        )
        if row["job_type"] == "pipeline" and execution:
            executions[str(execution)] = {
                "id": str(execution),
                "pipeline": str(info.get("pipeline") or row["name"]),
                "project_id": row["project_id"],
                "grp": row["grp"],
                "state": execution_state(row["state"], info.get("status")),
                "started_at": row["created_at"],
                "ended_at": row["ended_at"],
                "parameters": row["config"] or {},
            }
    if executions:
        conn.execute(sa.insert(t.executions), list(executions.values()))


def _v4_history_previews(conn: sa.Connection) -> None:
    t.history_previews.create(conn, checkfirst=True)


def execution_state(run_state: str, status: Any = None) -> str:
    """An execution's state from its own run's state (and the `status` its record wrote)."""
    if status in ("finished", "failed", "cancelled"):
        return str(status)
    if run_state == "running":
        return "running"
    return "finished" if run_state == "finished" else "failed"


#: schema version → the step that upgrades a database from the version before it
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {
    2: _v2_manifest_digests,
    3: _v3_pipeline_columns,
    4: _v4_history_previews,
}
