"""LocalBackend: SQL metadata and a local object store, in this process. No server.

It is composed of small parts over one database, each implementing one port of
`backends.base`: `runs` (`SqlRuns`: `RunStore`), `artifacts` (`SqlArtifacts`: `ArtifactStore`),
`registry` (`SqlRegistry`: `RegistryStore`), `executions` (`SqlExecutions`: `ExecutionStore`)
and `objects` (`LocalObjectStore`: `ObjectStore`). Its flat methods, the `Backend` port, hand
each call to the part that owns it; logs and `materialize` join metadata and objects.

A run's own writes skip SQLAlchemy on SQLite: `init`, `log` and `finish` (and a step attaching
to its runner's run) go to the stdlib writer `metadata.sqlite_runs`, so a short process never
imports SQLAlchemy. The SQL parts are made on first use of anything else; on PostgreSQL, or a
store whose schema must first be created or migrated, they are made at once and take the run
writes too. The object store and its stat cache also open on first use.

>>> backend = LocalBackend(Path(".stepline"))            # SQLite in .stepline/stepline.db
>>> backend = LocalBackend(Path(".stepline"), "postgresql+psycopg://host/db")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepline import _settings
from stepline.backends.base import (
    ArtifactRecord,
    ExecutionRecord,
    RegisteredModel,
    RunQuery,
    RunRecord,
    VersionRecord,
)
from stepline.errors import CorruptObject
from stepline.metadata import sqlite
from stepline.metadata.sqlite_runs import SqliteRuns
from stepline.settings import Settings, current

if TYPE_CHECKING:
    import sqlalchemy as sa

    from stepline.metadata._base import SqlDb
    from stepline.metadata.artifacts import SqlArtifacts
    from stepline.metadata.executions import SqlExecutions
    from stepline.metadata.registry import SqlRegistry
    from stepline.metadata.runs import SqlRuns
    from stepline.store.manifest import Entry, Manifest
    from stepline.store.objects import LocalObjectStore
    from stepline.store.statcache import StatCache


@dataclass
class _SqlParts:
    """The SQL parts over one database (SQLAlchemy, imported when they are made)."""

    db: SqlDb
    runs: SqlRuns
    artifacts: SqlArtifacts
    registry: SqlRegistry
    executions: SqlExecutions

    @classmethod
    def open(cls, url: str, heartbeat_timeout: float) -> _SqlParts:
        from stepline.metadata._base import SqlDb
        from stepline.metadata.artifacts import SqlArtifacts
        from stepline.metadata.executions import SqlExecutions
        from stepline.metadata.registry import SqlRegistry
        from stepline.metadata.runs import SqlRuns

        db = SqlDb(url)
        runs = SqlRuns(db, heartbeat_timeout)
        artifacts = SqlArtifacts(db)
        return cls(db, runs, artifacts, SqlRegistry(db), SqlExecutions(db, runs, artifacts))


def preload_sql() -> None:
    """Import what the SQL parts need (SQLAlchemy, ~0.2 s), e.g. in a thread of a process that
    will query runs once a child it waits for has ended; the import is then done."""
    import stepline.metadata._base
    import stepline.metadata.artifacts
    import stepline.metadata.executions
    import stepline.metadata.registry
    import stepline.metadata.runs  # noqa: F401


class LocalBackend:
    """Everything under one store folder (`.stepline/`), metadata in SQLite unless a URL says otherwise."""

    def __init__(self, root: Path, url: str | None = None, settings: Settings | None = None):
        #: what this backend was opened with (cache folder, link types, fsync, heartbeat)
        self.settings = settings = settings or current()
        self.heartbeat_timeout = settings.heartbeat_timeout
        #: the store folder (this adapter's own: callers of the port never need it)
        self.root = root
        #: a store stepline cannot write to (a read-only mount): it is read without writing a byte
        self.store_read_only = root.is_dir() and not os.access(root, os.W_OK)
        if not self.store_read_only:
            _settings.ensure_store(root)
        url = url or _settings.database_url(root, settings=settings)
        if self.store_read_only and url == _settings.database_url(root, default=True):
            url = sqlite.read_only_sqlite_url(root / "stepline.db")
        self._url = url
        self._lock = threading.Lock()
        self._sql: _SqlParts | None = None
        database = None if self.store_read_only else sqlite.plain_file(url)
        self._fast = (
            SqliteRuns.open(database, settings.heartbeat_timeout) if database is not None else None
        )
        if self._fast is None:  # a schema to create or migrate, or an error to raise: now
            self._sql = _SqlParts.open(url, settings.heartbeat_timeout)
        self._objects: LocalObjectStore | None = None

    @property
    def sql(self) -> _SqlParts:
        """The SQL parts (SQLAlchemy), made on first use."""
        with self._lock:
            if self._sql is None:
                self._sql = _SqlParts.open(self._url, self.heartbeat_timeout)
            return self._sql

    @property
    def db(self) -> SqlDb:
        return self.sql.db

    @property
    def runs(self) -> SqlRuns:
        return self.sql.runs

    @property
    def artifacts(self) -> SqlArtifacts:
        return self.sql.artifacts

    @property
    def registry(self) -> SqlRegistry:
        return self.sql.registry

    @property
    def executions(self) -> SqlExecutions:
        return self.sql.executions

    @property
    def objects(self) -> LocalObjectStore:
        """The object store (and its stat cache), opened on first use: a run that logs only
        metrics never needs it."""
        with self._lock:
            if self._objects is None:
                from stepline.store.objects import LocalObjectStore
                from stepline.store.statcache import StatCache

                settings = self.settings
                cache = StatCache(
                    None
                    if self.store_read_only
                    else _settings.cache_dir(settings) / "statcache.sqlite"
                )
                self._objects = LocalObjectStore(
                    self.root,
                    cache,
                    fsync=settings.fsync,
                    read_only=self.store_read_only,
                    link_types=settings.link_types(),
                )
            return self._objects

    @property
    def stat_cache(self) -> StatCache:
        return self.objects.stat_cache

    # -- the database, for the local web UI's own SQL reads (not part of the port) ------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def engine(self) -> sa.Engine:
        return self.db.engine

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    def _project_id(self, conn: sa.Connection, name: str, create: bool = True) -> int:
        return self.db.project_id(conn, name, create)

    # -- RunStore ------------------------------------------------------------------------------
    def create_run(self, rec: RunRecord) -> RunRecord:
        return (self._fast or self.runs).create_run(rec)

    def update_run(self, run_id: str, **fields: Any) -> None:
        (self._fast or self.runs).update_run(run_id, **fields)

    def move_run(self, run_id: str, project: str, renumber: bool = False) -> str:
        return (self._fast or self.runs).move_run(run_id, project, renumber)

    def heartbeat(self, run_id: str) -> None:
        (self._fast or self.runs).heartbeat(run_id)

    def end_run(
        self,
        run_id: str,
        state: str | None,
        exit_code: int | None = None,
        ended_at: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> str | None:
        return (self._fast or self.runs).end_run(run_id, state, exit_code, ended_at, info)

    def merge_run(self, run_id: str, column: str, patch: dict[str, Any]) -> dict[str, Any]:
        return (self._fast or self.runs).merge_run(run_id, column, patch)

    def get_run(self, ref: str, project: str | None = None) -> RunRecord:
        return (self._fast or self.runs).get_run(ref, project)

    def find_runs(self, query: RunQuery) -> list[RunRecord]:
        return self.runs.find_runs(query)

    def append_history(
        self, run_id: str, first_step: int, last_step: int, data: str, rows: list[Any] | None = None
    ) -> None:
        (self._fast or self.runs).append_history(run_id, first_step, last_step, data, rows)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        return self.runs.history(run_id)

    def last_step(self, run_id: str) -> int:
        return (self._fast or self.runs).last_step(run_id)

    def put_log(self, run_id: str, stream: str, data: bytes) -> None:
        oid = self.objects.put_bytes(data)
        (self._fast or self.runs).set_log_oid(run_id, stream, oid, len(data))

    def get_log(self, run_id: str, stream: str) -> bytes | None:
        oid = self.runs.log_oid(run_id, stream)
        return None if oid is None else self.objects.get_bytes(oid)

    def project_names(self) -> list[str]:
        return self.db.project_names()

    def log_oids(self) -> set[str]:
        return self.runs.log_oids()

    def media_oids(self) -> set[str]:
        return self.runs.media_oids()

    # -- ArtifactStore -------------------------------------------------------------------------
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
        return self.artifacts.commit_version(
            project, name, type, manifest, description, metadata, aliases, run_id
        )

    def resolve(
        self, project: str, name: str, selector: str, scope: str | None = None
    ) -> VersionRecord:
        return self.artifacts.resolve(project, name, selector, scope)

    def set_alias(self, project: str, name: str, version: int, alias: str) -> None:
        self.artifacts.set_alias(project, name, version, alias)

    def remove_alias(self, project: str, name: str, alias: str) -> None:
        self.artifacts.remove_alias(project, name, alias)

    def record_use(self, run_id: str, version_id: int) -> None:
        self.artifacts.record_use(run_id, version_id)

    def record_output(self, run_id: str, version_id: int) -> None:
        self.artifacts.record_output(run_id, version_id)

    def producers(self, version_id: int) -> list[RunRecord]:
        return self.artifacts.producers(version_id)

    def consumers(self, version_id: int) -> list[RunRecord]:
        return self.artifacts.consumers(version_id)

    def outputs(self, run_id: str) -> list[VersionRecord]:
        return self.artifacts.outputs(run_id)

    def inputs(self, run_id: str) -> list[VersionRecord]:
        return self.artifacts.inputs(run_id)

    def list_artifacts(self, project: str | None = None) -> list[ArtifactRecord]:
        return self.artifacts.list_artifacts(project)

    def list_versions(self, project: str, name: str) -> list[VersionRecord]:
        return self.artifacts.list_versions(project, name)

    def iter_versions(self) -> Iterator[VersionRecord]:
        return self.artifacts.iter_versions()

    def delete_version(self, version_id: int) -> None:
        self.artifacts.delete_version(version_id)

    def materialize(self, manifest: Manifest, root: Path) -> None:
        """Put every stored file of `manifest` under `root`, each checked against its digest.

        Reports a `copy` progress task (files and bytes) to the active observer.
        """
        from concurrent.futures import ThreadPoolExecutor

        from stepline import progress

        types = self.objects.link_types
        stored = [(p, e) for p, e in sorted(manifest.entries.items()) if e.ref is None]
        task = progress.start("copy", str(root), len(stored), sum(e.size for _, e in stored))
        lock = threading.Lock()

        def one(item: tuple[str, Entry]) -> None:
            path, entry = item
            try:
                self.objects.materialize(entry.digest, root / path, types)
            except CorruptObject as exc:
                raise CorruptObject(
                    f"file {path!r}: {exc}; the damaged copy was not written to {root / path}"
                ) from None
            if task is not None:
                with lock:
                    task.advance(1, entry.size, path)

        if len(stored) > 2:
            with ThreadPoolExecutor(max_workers=min(4, len(stored))) as pool:
                for _ in pool.map(one, stored):
                    pass
        else:
            for item in stored:
                one(item)
        if task is not None:
            task.finish()

    # -- RegistryStore -------------------------------------------------------------------------
    def register_version(
        self,
        model: str,
        version_id: int,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> int:
        return self.registry.register_version(model, version_id, description, tags)

    def get_model(self, model: str) -> RegisteredModel:
        return self.registry.get_model(model)

    def list_models(self) -> list[RegisteredModel]:
        return self.registry.list_models()

    def set_model_alias(self, model: str, version: int, alias: str) -> None:
        self.registry.set_model_alias(model, version, alias)

    def remove_model_alias(self, model: str, alias: str) -> None:
        self.registry.remove_model_alias(model, alias)

    def update_model(
        self, model: str, description: str | None = None, tags: dict[str, Any] | None = None
    ) -> None:
        self.registry.update_model(model, description, tags)

    def registered_version_ids(self) -> set[int]:
        return self.registry.registered_version_ids()

    # -- ExecutionStore ------------------------------------------------------------------------
    def create_execution(self, rec: ExecutionRecord) -> ExecutionRecord:
        return self.executions.create_execution(rec)

    def update_execution(
        self,
        execution_id: str,
        *,
        state: str | None = None,
        ended_at: float | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        self.executions.update_execution(
            execution_id, state=state, ended_at=ended_at, parameters=parameters
        )

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        return self.executions.get_execution(execution_id)

    def find_executions(
        self,
        project: str | None = None,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        return self.executions.find_executions(project, pipeline, state, limit)

    def execution_runs(self, execution_id: str) -> list[RunRecord]:
        return self.executions.execution_runs(execution_id)

    def find_cached(
        self, project: str | None, cache_key: str, outputs: Sequence[str] | None = None
    ) -> tuple[RunRecord, list[VersionRecord]] | None:
        return self.executions.find_cached(project, cache_key, outputs)

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        if self._sql is not None:
            self._sql.db.close()
        stat_cache = getattr(self._objects, "stat_cache", None)  # an S3 store has none
        if stat_cache is not None:
            stat_cache.close()
