"""The Backend port: what tracking needs from a store, local or remote. Records are plain data.

`Backend` is four ports in one object, each with its own concern:

- `RunStore`: runs, their metric history and captured logs;
- `ArtifactStore`: artifacts, versions, aliases and the run ↔ version lineage edges;
- `RegistryStore`: registered models, their versions and aliases;
- `backend.objects`, an `ObjectStore` (`stepline.store.objects`): the content-addressed blobs.

Callers use the flat methods (`backend.create_run(...)`, `backend.resolve(...)`); an adapter (the
local one in `backends.local`, an HTTP client, ...) implements all of them, and every adapter
passes `tests/conformance`. Errors are `stepline.errors` classes with stable codes; what each
method raises is written beside it. Records carry no local paths, so they travel as JSON.

>>> backend = stepline.backends.get_backend()
>>> run = backend.get_run("run-abc123")
>>> backend.resolve("nyc_airbnb", "clean_sample.csv", "latest").manifest
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stepline.store.manifest import Manifest
from stepline.store.objects import ObjectStore

__all__ = [
    "ArtifactRecord",
    "ArtifactStore",
    "Backend",
    "ModelVersion",
    "ObjectStore",
    "RegisteredModel",
    "RegistryStore",
    "RunQuery",
    "RunRecord",
    "RunStore",
    "VersionRecord",
]


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
    #: the pipeline execution the run belongs to (also `info["execution"]`)
    execution_id: str | None = None
    #: the step-cache key of the run's work (also `info["cache_key"]`)
    cache_key: str | None = None


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
class ExecutionRecord:
    """One pipeline execution: a `stepline run` of a pipeline.yaml, or a course root's."""

    id: str
    project: str
    pipeline: str
    group: str | None = None
    state: str = "running"  # see stepline.states.ExecutionState
    started_at: float = 0.0  # 0: now, when created
    ended_at: float | None = None
    #: what the execution was run with: a pipeline's resolved config, a root's parameters
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunQuery:
    """Filters (W&B-style, see tracking.query) and ordering over runs."""

    project: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    order: Sequence[str] = ("-created_at",)
    limit: int | None = None


@dataclass
class ModelVersion:
    """One version (v1, v2, …) of a registered model: a link to an artifact version."""

    model: str
    version: int
    artifact_ref: str
    artifact_version_id: int
    description: str | None
    tags: dict[str, Any]
    created_at: float
    aliases: list[str] = field(default_factory=list)


@dataclass
class RegisteredModel:
    """A registered model and its versions, oldest first."""

    name: str
    description: str | None
    tags: dict[str, Any]
    created_at: float
    versions: list[ModelVersion] = field(default_factory=list)

    def to_dict(self, detail: bool = False) -> dict[str, Any]:
        """JSON data: name, version count and alias → version; `detail` gives every version."""
        if detail:
            return {
                "name": self.name,
                "description": self.description,
                "tags": self.tags,
                "versions": [vars(v) for v in self.versions],
            }
        return {
            "name": self.name,
            "versions": len(self.versions),
            "aliases": {a: v.version for v in self.versions for a in v.aliases},
        }


class RunStore(Protocol):
    """Runs, their metric history and their captured logs.

    Writes to a run id that does not exist change nothing and raise nothing (`update_run`,
    `merge_run`, `heartbeat`, `end_run`, `append_history`): only reads say `RunNotFound`.
    """

    def create_run(self, rec: RunRecord) -> RunRecord:
        """Insert `rec` (its project is created when new) and return it.

        An empty `rec.name` becomes `adjective-noun-N`, N counting the project's runs.
        """

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Overwrite columns of a run (`state`, `tags`, `notes`, `group`, `ended_at`, ...)."""

    def move_run(self, run_id: str, project: str, renumber: bool = False) -> str:
        """Put a run in `project` (created when new); return its name, made again when `renumber`."""

    def heartbeat(self, run_id: str) -> None:
        """The run's process is alive: a run called `crashed` for a silence goes back to `running`."""

    def end_run(
        self,
        run_id: str,
        state: str | None,
        exit_code: int | None = None,
        ended_at: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> str | None:
        """Merge `info`, then set the final `state` (None: merge only); returns the state written.

        A run whose info counts lost metric points ends `failed`, not `finished`.
        """

    def merge_run(self, run_id: str, column: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge `patch` into a JSON column (`config`, `summary`, `info`); returns the merged value."""

    def get_run(self, ref: str, project: str | None = None) -> RunRecord:
        """A run by id, or by name (the newest of that name, within `project` when given).

        Raises `RunNotFound`. A `running` run whose process is gone is reported `crashed`.
        """

    def find_runs(self, query: RunQuery) -> list[RunRecord]:
        """Runs matching `query` (see `tracking.query` for the filter language), in its order.

        Raises `UsageError` for a malformed filter, an unknown state, or a config/summary key
        no run of the project has (naming the keys that exist).
        """

    def append_history(
        self, run_id: str, first_step: int, last_step: int, data: str, rows: list[Any] | None = None
    ) -> None:
        """Store one chunk of metric rows: `data` is a JSON list of `[step, timestamp, {key: value}]`;
        `rows` is `data` already parsed, when the caller parsed it anyway (saves a second parse)."""

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Every metric row of a run in step order, each with `_step` and `_timestamp`."""

    def last_step(self, run_id: str) -> int:
        """The highest step a run logged; -1 when it logged none."""

    def put_log(self, run_id: str, stream: str, data: bytes) -> None:
        """Keep captured output of a run (`stdout`, `stderr`, `build`), replacing that stream's."""

    def get_log(self, run_id: str, stream: str) -> bytes | None:
        """A run's captured output of `stream`; None when it has none."""

    def project_names(self) -> list[str]:
        """Every project (made by a run or an artifact), sorted."""

    def log_oids(self) -> set[str]:
        """The objects holding captured logs (what gc must keep for runs)."""

    def media_oids(self) -> set[str]:
        """The objects logged media (images, tables) point at, from history and summaries."""


class ArtifactStore(Protocol):
    """Artifacts, their versions and aliases, and the run ↔ version edges (lineage).

    Name lookups raise `ProjectNotFound`, then `ArtifactNotFound`, then `VersionNotFound`,
    each message listing what does exist.
    """

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
        """Commit a version unless its content equals an existing one's; returns (version, created).

        Version numbers are v0, v1, … with no gap or duplicate under concurrent writers. Content
        equal to ANY existing version returns that version. Either way `latest` and `aliases` move
        to it and `run_id` (when given) gets an output edge to it. The manifest's objects must
        already be in `objects`. Raises `Conflict` when the artifact exists with another type.
        """

    def resolve(
        self, project: str, name: str, selector: str, scope: str | None = None
    ) -> VersionRecord:
        """The version `selector` names (an alias or `vN`).

        With `scope` (an execution id), `latest` is first the newest version a run of that
        execution logged or reused. Raises `ProjectNotFound`, `ArtifactNotFound`, `VersionNotFound`.
        """

    def set_alias(self, project: str, name: str, version: int, alias: str) -> None:
        """Point `alias` at `vN` (moving it from any other version). Raises the lookup errors."""

    def remove_alias(self, project: str, name: str, alias: str) -> None:
        """Drop an alias. Raises `VersionNotFound` when the artifact has no such alias."""

    def record_use(self, run_id: str, version_id: int) -> None:
        """The run used the version as an input (idempotent)."""

    def record_output(self, run_id: str, version_id: int) -> None:
        """The run produced the version without creating it (equal content, a cache hit)."""

    def producers(self, version_id: int) -> list[RunRecord]:
        """The run that created a version and the runs that logged or reused it, oldest first."""

    def consumers(self, version_id: int) -> list[RunRecord]:
        """The runs that used a version as an input, oldest first."""

    def outputs(self, run_id: str) -> list[VersionRecord]:
        """The versions a run created, logged or reused."""

    def inputs(self, run_id: str) -> list[VersionRecord]:
        """The versions a run used."""

    def list_artifacts(self, project: str | None = None) -> list[ArtifactRecord]:
        """Every artifact (of `project`, when given), with its version count and newest number."""

    def list_versions(self, project: str, name: str) -> list[VersionRecord]:
        """An artifact's versions, v0 first. Raises `ProjectNotFound`, `ArtifactNotFound`."""

    def iter_versions(self) -> Iterator[VersionRecord]:
        """Every version of every artifact in the store."""

    def delete_version(self, version_id: int) -> None:
        """Forget a version with its aliases and edges (its objects stay until gc)."""

    def materialize(self, manifest: Manifest, root: Path) -> None:
        """Write every stored file of `manifest` under the local folder `root`, each checked.

        Raises `CorruptObject` (naming the file) when an object's bytes do not match its digest,
        `StoreError` when an object is missing; a damaged file is never written.
        """


class RegistryStore(Protocol):
    """Registered models: each has versions v1, v2, … that link artifact versions, and aliases.

    Lookups of a model raise `NotFound` (listing the registered names), of its version or
    alias `VersionNotFound`.
    """

    def register_version(
        self,
        model: str,
        version_id: int,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> int:
        """Link an artifact version as the model's next version (the model is made when new).

        Returns its number; registering what the newest version already links returns that one.
        """

    def get_model(self, model: str) -> RegisteredModel:
        """A registered model with its versions and their aliases. Raises `NotFound`."""

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""

    def set_model_alias(self, model: str, version: int, alias: str) -> None:
        """Point `alias` at the model's `vN`. Raises `NotFound`, `VersionNotFound`."""

    def remove_model_alias(self, model: str, alias: str) -> None:
        """Drop a model alias. Raises `NotFound`, `VersionNotFound`."""

    def update_model(
        self, model: str, description: str | None = None, tags: dict[str, Any] | None = None
    ) -> None:
        """Set a model's description and merge `tags` into its tags. Raises `NotFound`."""

    def registered_version_ids(self) -> set[int]:
        """Every artifact version id some model version links (what gc must keep)."""


class ExecutionStore(Protocol):
    """Pipeline executions (one `stepline run` of a pipeline.yaml or a course root, or one
    Hydra job of it) and the step cache over runs' `cache_key`."""

    def create_execution(self, rec: ExecutionRecord) -> ExecutionRecord:
        """Record an execution; one whose id is already stored is returned as stored."""

    def update_execution(
        self,
        execution_id: str,
        *,
        state: str | None = None,
        ended_at: float | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Set an execution's state, end time or parameters (those given). Raises `NotFound`;
        `UsageError` for a state outside `states.EXECUTION_STATES`."""

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        """One execution by id. Raises `NotFound`."""

    def find_executions(
        self,
        project: str | None = None,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        """Executions (of `project`, of `pipeline`, in `state`), newest first."""

    def execution_runs(self, execution_id: str) -> list[RunRecord]:
        """The runs of one execution (its steps, cache hits and its own run), oldest first."""

    def find_cached(
        self, project: str | None, cache_key: str, outputs: Sequence[str] | None = None
    ) -> tuple[RunRecord, list[VersionRecord]] | None:
        """The newest finished run with `cache_key` whose output edges cover `outputs` (every
        name in it), with the versions it output; None when there is none."""


class Backend(RunStore, ArtifactStore, RegistryStore, ExecutionStore, Protocol):
    """Metadata and objects of one store. `LocalBackend` now; an HTTP client for a server later."""

    @property
    def objects(self) -> ObjectStore:
        """The store's content-addressed blobs (see `stepline.store.objects.ObjectStore`)."""

    def close(self) -> None:
        """Release connections and files; the backend is not used afterwards."""
