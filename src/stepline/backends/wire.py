"""Records on the wire: RunRecord, VersionRecord, ArtifactRecord, ExecutionRecord and RunQuery to and from JSON.

Shared by the server (`stepline.server`) and its HTTP client (`backends/http.py`), so both sides
agree on one shape. `dump_*` returns plain JSON-able dicts, `load_*` rebuilds the records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from stepline import errors
from stepline.backends.base import (
    ArtifactRecord,
    ExecutionRecord,
    RunQuery,
    RunRecord,
    VersionRecord,
)
from stepline.store.manifest import Manifest

#: the API's path prefix; bumped when a request or answer changes shape
PREFIX = "/api/v1"


def dump_run(rec: RunRecord) -> dict[str, Any]:
    return dataclasses.asdict(rec)


def load_run(data: dict[str, Any]) -> RunRecord:
    return RunRecord(**data)


def dump_version(rec: VersionRecord) -> dict[str, Any]:
    out = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
    out["manifest"] = rec.manifest.to_json()
    return out


def load_version(data: dict[str, Any]) -> VersionRecord:
    data = dict(data)
    data["manifest"] = Manifest.from_json(data["manifest"])
    return VersionRecord(**data)


def dump_artifact(rec: ArtifactRecord) -> dict[str, Any]:
    return dataclasses.asdict(rec)


def load_artifact(data: dict[str, Any]) -> ArtifactRecord:
    return ArtifactRecord(**data)


def dump_execution(rec: ExecutionRecord) -> dict[str, Any]:
    return dataclasses.asdict(rec)


def load_execution(data: dict[str, Any]) -> ExecutionRecord:
    return ExecutionRecord(**data)


def dump_query(q: RunQuery) -> dict[str, Any]:
    return {"project": q.project, "filters": q.filters, "order": list(q.order), "limit": q.limit}


def load_query(data: dict[str, Any]) -> RunQuery:
    return RunQuery(
        project=data.get("project"),
        filters=data.get("filters") or {},
        order=tuple(data.get("order") or ("-created_at",)),
        limit=data.get("limit"),
    )


def _classes(root: type[errors.SteplineError]) -> dict[str, type[errors.SteplineError]]:
    out = {root.code: root}
    for sub in root.__subclasses__():
        out.update(_classes(sub))
    return out


def error_from(code: str, message: str) -> errors.SteplineError:
    """The stepline error a server's `{"error": {"code", "message"}}` body stands for."""
    cls = _classes(errors.SteplineError).get(code, errors.SteplineError)
    try:
        return cls(message)
    except TypeError:
        return errors.SteplineError(message)
