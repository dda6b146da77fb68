"""The Backend port: what tracking needs from a store, local or remote. Records are plain data."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stepline.store.manifest import Manifest


@dataclass
class RunRecord:
    """One run as stored."""

    id: str
    project: str
    name: str
    group: str | None
    job_type: str | None
    state: str
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    host: str | None = None
    pid: int | None = None
    command: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str | None = None
    created_at: float = 0.0
    ended_at: float | None = None
    heartbeat_at: float | None = None
    exit_code: int | None = None


@dataclass
class VersionRecord:
    """One committed artifact version."""

    id: int
    project: str
    name: str
    type: str
    version: int
    digest: str
    manifest: Manifest
    size: int
    file_count: int
    description: str | None
    metadata: dict[str, Any]
    created_at: float
    run_id: str | None
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.name}:v{self.version}"


@dataclass
class ArtifactRecord:
    """One artifact (a collection of versions)."""

    id: int
    project: str
    name: str
    type: str
    created_at: float
    version_count: int = 0
    latest: int | None = None


@dataclass
class RunQuery:
    """Filters (W&B-style, see tracking.query) and ordering over runs."""

    project: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    order: Sequence[str] = ("-created_at",)
    limit: int | None = None


class Backend(Protocol):
    """Metadata and objects of one store. `LocalBackend` now; an HTTP client for a server later."""

    root: Path
    objects: Any  # the object store (LocalObjectStore for local stores)

    # runs
    def create_run(self, rec: RunRecord) -> RunRecord: ...
    def update_run(self, run_id: str, **fields: Any) -> None: ...
    def merge_run(self, run_id: str, column: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    def get_run(self, ref: str, project: str | None = None) -> RunRecord: ...
    def find_runs(self, query: RunQuery) -> list[RunRecord]: ...
    def append_history(self, run_id: str, first_step: int, last_step: int, data: str) -> None: ...
    def history(self, run_id: str) -> list[dict[str, Any]]: ...
    def last_step(self, run_id: str) -> int: ...
    def put_log(self, run_id: str, stream: str, data: bytes) -> None: ...
    def get_log(self, run_id: str, stream: str) -> bytes | None: ...

    # artifacts
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
    ) -> tuple[VersionRecord, bool]: ...
    def resolve(
        self, project: str, name: str, selector: str, scope: str | None = None
    ) -> VersionRecord: ...
    def set_alias(self, project: str, name: str, version: int, alias: str) -> None: ...
    def remove_alias(self, project: str, name: str, alias: str) -> None: ...
    def record_use(self, run_id: str, version_id: int) -> None: ...
    def record_output(self, run_id: str, version_id: int) -> None: ...
    def producers(self, version_id: int) -> list[RunRecord]: ...
    def list_artifacts(self, project: str | None = None) -> list[ArtifactRecord]: ...
    def list_versions(self, project: str, name: str) -> list[VersionRecord]: ...
    def outputs(self, run_id: str) -> list[VersionRecord]: ...
    def inputs(self, run_id: str) -> list[VersionRecord]: ...
    def consumers(self, version_id: int) -> list[RunRecord]: ...
    def materialize(self, manifest: Manifest, root: Path) -> None: ...
    def iter_versions(self) -> Iterator[VersionRecord]: ...
    def delete_version(self, version_id: int) -> None: ...
    def close(self) -> None: ...
