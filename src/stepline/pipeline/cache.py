"""Step cache keys, and why a key changed.

A step's cache key is the digest of five fields (DESIGN.md "Step caching"):

    key = cache_key(source_digest="…", entry_point="main", parameters={"min_price": "10"},
                    inputs={"sample.csv:latest": "<version digest>"}, env_digest="…")
    key.key      # hex digest
    key.fields   # the fields, stored on the run as info.cache_fields

The key is pure; looking a key up in the store and confirming the hit lives behind the
`Tracker` port (`stepline.pipeline.ports`). `explain` compares two runs' fields for `stepline why`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import blake3

KEY_FIELDS = ("source_digest", "entry_point", "parameters", "inputs", "env_digest")
KEY_VERSION = 1


def digest_json(value: Any) -> str:
    """BLAKE3 hex digest of `value` as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return blake3.blake3(text.encode()).hexdigest()


def file_digests(parameters: Mapping[str, str]) -> dict[str, str]:
    """`file:<path>` -> content digest for each parameter that is an absolute path to a file.

    A parameter such as `rf_config=/abs/rf_config.json` keeps its text while the file's
    content changes (a Hydra main.py rewrites it per run), so the content joins the key.
    """
    import os

    out: dict[str, str] = {}
    for value in parameters.values():
        text = str(value)
        if os.path.isabs(text) and os.path.isfile(text):
            hasher = blake3.blake3()
            with open(text, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    hasher.update(chunk)
            out[f"file:{text}"] = hasher.hexdigest()
    return out


@dataclass(frozen=True)
class CacheKey:
    """A step's cache key and the fields it was computed from."""

    key: str
    fields: Mapping[str, Any]


def cache_key(
    *,
    source_digest: str,
    entry_point: str,
    parameters: Mapping[str, str],
    inputs: Mapping[str, str],
    env_digest: str,
) -> CacheKey:
    """The cache key of a step from its five fields.

    `inputs` maps each input (by artifact name) to the digest of the version actually resolved,
    so `sample.csv:latest` re-keys when `latest` moves and not otherwise.
    """
    fields: dict[str, Any] = {
        "source_digest": source_digest,
        "entry_point": entry_point,
        "parameters": {str(k): str(v) for k, v in sorted(parameters.items())},
        "inputs": dict(sorted(inputs.items())),
        "env_digest": env_digest,
    }
    return CacheKey(key=digest_json({"v": KEY_VERSION, **fields}), fields=fields)


@dataclass(frozen=True)
class FieldChange:
    """One difference between two runs' cache fields; `key` is e.g. `parameters.min_price`."""

    field: str
    key: str
    before: Any
    after: Any


def explain(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """Field-by-field differences between two cache-field mappings (empty when the keys match).

    Mappings (`parameters`, `inputs`) are compared entry by entry; a missing entry is None.
    """
    changes: list[FieldChange] = []
    for name in KEY_FIELDS:
        old, new = before.get(name), after.get(name)
        if isinstance(old, Mapping) or isinstance(new, Mapping):
            old_map: Mapping[str, Any] = old if isinstance(old, Mapping) else {}
            new_map: Mapping[str, Any] = new if isinstance(new, Mapping) else {}
            for k in sorted(set(old_map) | set(new_map)):
                if old_map.get(k) != new_map.get(k):
                    changes.append(FieldChange(name, f"{name}.{k}", old_map.get(k), new_map.get(k)))
        elif old != new:
            changes.append(FieldChange(name, name, old, new))
    return changes


@dataclass(frozen=True)
class WhyReport:
    """Why a step re-ran or hit the cache: its run, the previous run and what changed."""

    step: str
    run: Any  # RunFacts
    previous: Any | None  # RunFacts
    changes: list[FieldChange]

    @property
    def hit(self) -> bool:
        """True when the run was a cache hit."""
        return bool(self.run.state == "cached")


def why(tracker: Any, project: str | None, step: str, execution: str | None = None) -> WhyReport:
    """Compare the cache fields of `step`'s run in `execution` (default: its newest run) with
    the run of that step before it.

    `tracker` is a `stepline.pipeline.ports.Tracker`; `execution` is an execution id or group.
    Raises `NotFound` when the step has no recorded run.
    """
    from stepline.errors import NotFound

    history = [
        r
        for r in tracker.runs(project, {"info.step": step})
        if isinstance(r.info.get("cache_fields"), Mapping)
    ]
    if execution is not None:
        target_i = next(
            (
                i
                for i, r in enumerate(history)
                if r.info.get("execution") == execution or r.group == execution
            ),
            None,
        )
    else:
        target_i = 0 if history else None
    if target_i is None:
        where = f" in execution {execution!r}" if execution else ""
        raise NotFound(f"step {step!r} has no recorded pipeline run{where}; run the pipeline first")
    target = history[target_i]
    previous = next(
        (
            r
            for r in history[target_i + 1 :]
            if r.info.get("execution") != target.info.get("execution")
        ),
        None,
    )
    changes = (
        explain(previous.info["cache_fields"], target.info["cache_fields"]) if previous else []
    )
    return WhyReport(step=step, run=target, previous=previous, changes=changes)
