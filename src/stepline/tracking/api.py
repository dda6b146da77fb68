"""`stepline.Api()`: query runs, artifacts and lineage from the store, with no server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stepline.backends import get_backend
from stepline.backends.base import Backend, RunQuery, RunRecord
from stepline.tracking.artifact import FROM_ENV, Artifact, resolve
from stepline.tracking.run_files import MediaFile, find_file, run_media


class ApiRun:
    """A stored run, read-only: `.config`, `.summary`, `.history()`, inputs and outputs."""

    def __init__(self, backend: Backend, record: RunRecord) -> None:
        self._backend = backend
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)

    @property
    def record(self) -> RunRecord:
        return self._record

    @property
    def path(self) -> str:
        return f"{self._record.project}/{self._record.id}"

    def history(self) -> list[dict[str, Any]]:
        """Every logged row, in step order (`_step` and `_timestamp` included)."""
        return self._backend.history(self._record.id)

    scan_history = history

    def media(self, key: str | None = None, type: str | None = None) -> list[MediaFile]:
        """The images and tables this run logged, in step order (optionally one key or type).

        >>> table = api.run("3kq9x0ab").media(key="preds")[-1].table()
        """
        return [
            m
            for m in run_media(self._backend, self._record.id)
            if (key is None or m.key == key) and (type is None or m.type == type)
        ]

    def files(self) -> list[MediaFile]:
        """The run's logged media as files, W&B-style (`f.name`, `f.size`, `f.download()`)."""
        return self.media()

    def file(self, name: str) -> MediaFile:
        """One of `files()` by name: `run.file("media/images/roc_3_….png").download()`."""
        return find_file(self.media(), name, self.path)

    def logged_artifacts(self) -> list[Artifact]:
        return [Artifact._from_record(self._backend, v) for v in self._backend.outputs(self.id)]

    def used_artifacts(self) -> list[Artifact]:
        return [Artifact._from_record(self._backend, v) for v in self._backend.inputs(self.id)]

    def logs(self, stream: str = "stdout") -> str | None:
        data = self._backend.get_log(self._record.id, stream)
        return None if data is None else data.decode("utf-8", "replace")

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self._record))
        plain: dict[str, Any] = json.loads(json.dumps(out, default=str))
        return plain

    def __repr__(self) -> str:
        return f"<Run {self.path} ({self._record.name}) {self._record.state}>"


class Api:
    """Queries over the local store (or the configured one).

    >>> api = stepline.Api()
    >>> best = api.runs("nyc_airbnb", filters={"job_type": "train"}, order="summary.mae")[0]
    """

    def __init__(self, backend: Backend | None = None, overrides: dict[str, Any] | None = None):
        self._backend = backend or get_backend()

    @property
    def backend(self) -> Backend:
        return self._backend

    def projects(self) -> list[str]:
        return self._backend.project_names()

    def runs(
        self,
        path: str | None = None,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] = "-created_at",
        per_page: int | None = None,
        limit: int | None = None,
        **_: Any,
    ) -> list[ApiRun]:
        """Runs of a project (`entity/project` accepted), filtered W&B-style and ordered."""
        project = path.split("/")[-1] if path else None
        orders = [order] if isinstance(order, str) else list(order)
        orders = [o.replace("summary_metrics.", "summary.") for o in orders]
        query = RunQuery(project=project, filters=filters or {}, order=orders, limit=limit)
        return [ApiRun(self._backend, r) for r in self._backend.find_runs(query)]

    def run(self, path: str) -> ApiRun:
        """A run by `id`, `project/id` or name."""
        parts = path.split("/")
        project = parts[-2] if len(parts) >= 2 else None
        return ApiRun(self._backend, self._backend.get_run(parts[-1], project))

    def artifact(
        self, name: str, type: str | None = None, scope: str | None = FROM_ENV
    ) -> Artifact:
        """A logged version by reference, without recording a usage edge.

        `scope`: an execution id whose outputs `name:latest` prefers (default: STEPLINE_SCOPE).
        """
        return Artifact._from_record(
            self._backend, resolve(self._backend, name, None, type, scope=scope)
        )

    def set_alias(self, ref: str, alias: str) -> Artifact:
        """Point `alias` at the version `ref` names (moving it from any other version)."""
        from stepline.errors import UsageError
        from stepline.tracking.naming import check_alias

        if alias == "latest":
            raise UsageError("'latest' moves by itself to the newest version; pick another alias")
        art = self.artifact(ref)
        self._backend.set_alias(art.project, art.name, int(art.version[1:]), check_alias(alias))
        return self.artifact(f"{art.project}/{art.name}:{alias}")

    def remove_alias(self, ref: str, alias: str) -> None:
        """Take `alias` off the artifact `ref` names."""
        art = self.artifact(ref)
        self._backend.remove_alias(art.project, art.name, alias)

    def artifact_versions(self, name: str, project: str | None = None) -> list[Artifact]:
        from stepline.formats.refs import parse_ref

        ref = parse_ref(name)
        target = ref.project or project or resolve(self._backend, name, project).project
        return [
            Artifact._from_record(self._backend, v)
            for v in self._backend.list_versions(target, ref.name)
        ]

    def artifacts(self, type_name: str | None = None, name: str | None = None) -> list[Artifact]:
        if name:
            return self.artifact_versions(name)
        out: list[Artifact] = []
        for a in self._backend.list_artifacts():
            if type_name is None or a.type == type_name:
                out.extend(self.artifact_versions(f"{a.project}/{a.name}"))
        return out

    def artifact_collections(
        self, project: str | None = None, type_name: str | None = None
    ) -> list[Any]:
        return [
            a
            for a in self._backend.list_artifacts(project)
            if type_name is None or a.type == type_name
        ]

    def artifact_exists(self, name: str) -> bool:
        from stepline.errors import NotFound

        try:
            self.artifact(name)
        except NotFound:
            return False
        return True

    def lineage(self, ref: str, direction: str = "both", depth: int = 10) -> Any:
        from stepline.tracking.lineage import build

        return build(self._backend, ref, direction=direction, depth=depth)
