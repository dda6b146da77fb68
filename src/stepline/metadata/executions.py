"""Pipeline executions in SQL, and the step-cache lookup over `runs.cache_key`.

backend.create_execution(ExecutionRecord(id="k3x9a0qz", project="p", pipeline="etl"))
backend.update_execution("k3x9a0qz", state="finished", ended_at=time.time())
backend.find_executions(project="p", pipeline="etl")     # newest first
backend.find_cached("p", key, outputs=["clean"])         # (run, its output versions) | None
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from stepline.backends.base import ExecutionRecord, RunRecord, VersionRecord
from stepline.errors import NotFound, UsageError
from stepline.metadata import schema as t
from stepline.metadata._base import SqlDb
from stepline.metadata.artifacts import SqlArtifacts
from stepline.metadata.runs import SqlRuns, runs_select, to_run
from stepline.states import EXECUTION_STATES

_E = t.executions


class SqlExecutions:
    """The executions table, and finding a step's cached run by its key (`ExecutionStore`),
    over the store's shared `SqlDb`, with its run and artifact parts for the cache lookup."""

    def __init__(self, db: SqlDb, runs: SqlRuns, artifacts: SqlArtifacts) -> None:
        self.db = db
        self.runs = runs
        self.artifacts = artifacts

    def _executions_select(self) -> sa.Select[Any]:
        return sa.select(
            t.projects.c.name.label("project"), *[c for c in _E.c if c.name != "project_id"]
        ).join(t.projects, t.projects.c.id == _E.c.project_id)

    @staticmethod
    def _to_execution(row: Any) -> ExecutionRecord:
        m = row._mapping
        return ExecutionRecord(
            id=m["id"],
            project=m["project"],
            pipeline=m["pipeline"],
            group=m["grp"],
            state=m["state"],
            started_at=m["started_at"],
            ended_at=m["ended_at"],
            parameters=m["parameters"] or {},
        )

    @staticmethod
    def _check_state(state: str) -> None:
        if state not in EXECUTION_STATES:
            raise UsageError(f"no execution state {state!r}; states: {', '.join(EXECUTION_STATES)}")

    def create_execution(self, rec: ExecutionRecord) -> ExecutionRecord:
        """Record an execution; one whose id is already stored is returned as stored.

        Processes of one execution (a course root's `mlflow.run` calls) may each create it.
        """
        self._check_state(rec.state)
        with self.db.tx() as conn:
            pid = self.db.project_id(conn, rec.project)
            conn.execute(
                self.db.insert_ignore(
                    _E,
                    id=rec.id,
                    pipeline=rec.pipeline,
                    project_id=pid,
                    grp=rec.group,
                    state=rec.state,
                    started_at=rec.started_at or time.time(),
                    ended_at=rec.ended_at,
                    parameters=rec.parameters,
                )
            )
            row = conn.execute(self._executions_select().where(_E.c.id == rec.id)).one()
        return self._to_execution(row)

    def update_execution(
        self,
        execution_id: str,
        *,
        state: str | None = None,
        ended_at: float | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Set an execution's state, end time or parameters (those given)."""
        values: dict[str, Any] = {}
        if state is not None:
            self._check_state(state)
            values["state"] = state
        if ended_at is not None:
            values["ended_at"] = ended_at
        if parameters is not None:
            values["parameters"] = parameters
        if not values:
            return
        with self.db.tx() as conn:
            done = conn.execute(sa.update(_E).where(_E.c.id == execution_id).values(**values))
        if not done.rowcount:
            raise NotFound(f"no execution {execution_id!r}")

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        """One execution by id; `NotFound` when there is none."""
        with self.db.engine.connect() as conn:
            row = conn.execute(self._executions_select().where(_E.c.id == execution_id)).first()
        if row is None:
            raise NotFound(
                f"no execution {execution_id!r}; list them with 'stepline runs ls --job-type"
                " pipeline'"
            )
        return self._to_execution(row)

    def find_executions(
        self,
        project: str | None = None,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        """Executions (of `project`, of `pipeline`, in `state`), newest first."""
        q = self._executions_select()
        if project is not None:
            q = q.where(t.projects.c.name == project)
        if pipeline is not None:
            q = q.where(_E.c.pipeline == pipeline)
        if state is not None:
            q = q.where(_E.c.state == state)
        q = q.order_by(_E.c.started_at.desc())
        if limit:
            q = q.limit(limit)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [self._to_execution(r) for r in rows]

    def execution_runs(self, execution_id: str) -> list[RunRecord]:
        """The runs of one execution (its steps, cache hits and its own run), oldest first."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                runs_select()
                .where(t.runs.c.execution_id == execution_id)
                .order_by(t.runs.c.created_at)
            ).all()
        return self.runs.reap([to_run(r) for r in rows])

    def find_cached(
        self, project: str | None, cache_key: str, outputs: Sequence[str] | None = None
    ) -> tuple[RunRecord, list[VersionRecord]] | None:
        """The newest finished run with `cache_key` (in `project`, or any) that has an output
        edge to a version of each name in `outputs`, with the versions it output; None when
        no run has. `outputs=None` takes the newest finished run with the key as it is."""
        q = runs_select().where(t.runs.c.cache_key == cache_key, t.runs.c.state == "finished")
        if project is not None:
            q = q.where(t.projects.c.name == project)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q.order_by(t.runs.c.created_at.desc())).all()
        for row in rows:
            run = to_run(row)
            versions = self.artifacts.outputs(run.id)
            if outputs is None or set(outputs) <= {v.name for v in versions}:
                return run, versions
        return None
