"""Step cache keys, and why a key changed.

A step's cache key is the digest of five fields (six when a parameter comes from the environment) (DESIGN.md "Step caching"):

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
from dataclasses import dataclass, field
from typing import Any

import blake3

from stepline.formats.refs import find_ref

KEY_FIELDS = ("source_digest", "entry_point", "parameters", "inputs", "env_digest")
#: present only when some parameter's value comes from the environment
OPTIONAL_FIELDS = ("env_values",)
#: `env_values` digests use a fixed key: no table of plain hashes finds a secret in the store
#: (a weak secret can still be guessed offline; the value itself is never stored)
_ENV_VALUE_KEY = blake3.blake3(
    b"stepline cache: a parameter value read from the environment"
).digest()
#: 2: file parameters keyed on content alone, URLs on their HEAD (`stepline.pipeline.fingerprint`)
KEY_VERSION = 2


def digest_json(value: Any) -> str:
    """BLAKE3 hex digest of `value` as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return blake3.blake3(text.encode()).hexdigest()


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
    env_values: Mapping[str, str] | None = None,
) -> CacheKey:
    """The cache key of a step from its five fields.

    `inputs` maps each input (by artifact name) to the digest of the version actually resolved,
    so `sample.csv:latest` re-keys when `latest` moves and not otherwise. `parameters` are
    what `stepline.pipeline.fingerprint.fingerprint` makes of them (a file parameter is its
    content digest, a URL carries its remote version). `env_values` are the
    values of parameters recorded as `${oc.env:...}` text: only their digests enter the
    fields (as a sixth field, `env_values`), so a changed value re-runs the step.
    """
    fields: dict[str, Any] = {
        "source_digest": source_digest,
        "entry_point": entry_point,
        "parameters": {str(k): str(v) for k, v in sorted(parameters.items())},
        "inputs": dict(sorted(inputs.items())),
        "env_digest": env_digest,
    }
    if env_values:
        fields["env_values"] = {
            str(k): blake3.blake3(str(v).encode(), key=_ENV_VALUE_KEY).hexdigest()[:16]
            for k, v in sorted(env_values.items())
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
    for name in (*KEY_FIELDS, *OPTIONAL_FIELDS):
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
    """Why a step re-ran or hit the cache: its run, the closest earlier run and what changed.

    `notes` are the run's remarks on what its key could not check (an unreachable URL).
    """

    step: str
    run: Any  # RunFacts
    previous: Any | None  # RunFacts
    changes: list[FieldChange]
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def hit(self) -> bool:
        """True when the run was a cache hit."""
        return bool(self.run.state == "cached")

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `stepline why --json`."""
        run, prev = self.run, self.previous
        return {
            "step": self.step,
            "run": run.id,
            "state": run.state,
            "execution": run.info.get("execution"),
            "cached_from": run.info.get("cached_from"),
            "previous": prev.id if prev else None,
            "changes": [
                {"field": c.field, "key": c.key, "before": c.before, "after": c.after}
                for c in self.changes
            ],
            "notes": self.notes,
        }


def _version_label(resolved: Any, ref: str) -> str | None:
    """`v3` from a run's `inputs_resolved` (`project/name:v3`) for input `ref`, if recorded."""
    text = (resolved or {}).get(ref) if isinstance(resolved, Mapping) else None
    parsed = find_ref(str(text)) if text else None
    return parsed.selector if parsed else None


def _with_versions(changes: list[FieldChange], before: Any, after: Any) -> list[FieldChange]:
    """Input changes shown as versions (`v0` -> `v1`) where both runs recorded them."""
    out = []
    for c in changes:
        if c.field == "inputs":
            ref = c.key[len("inputs.") :]
            old = _version_label(before.info.get("inputs_resolved"), ref)
            new = _version_label(after.info.get("inputs_resolved"), ref)
            c = FieldChange(
                c.field,
                c.key,
                old if old and c.before is not None else c.before,
                new if new and c.after is not None else c.after,
            )
        out.append(c)
    return out


def why(tracker: Any, project: str | None, step: str, execution: str | None = None) -> WhyReport:
    """Compare the cache fields of `step`'s run in `execution` (default: its newest run) with
    the closest earlier run of that step: the one with the fewest differing fields (the most
    recent of those on a tie), from another execution.

    `tracker` is a `stepline.pipeline.ports.Tracker`; `execution` is an execution id or group.
    Input changes name versions (`v0` -> `v1`) rather than digests. Raises `NotFound` when
    the step has no recorded run.
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
    fields = target.info["cache_fields"]
    earlier = [
        (explain(r.info["cache_fields"], fields), r)
        for r in history[target_i + 1 :]
        if r.info.get("execution") != target.info.get("execution")
    ]
    previous: Any | None = None
    changes: list[FieldChange] = []
    if earlier:
        changes, previous = min(earlier, key=lambda pair: len(pair[0]))  # first: most recent
        changes = _with_versions(changes, previous, target)
    notes = target.info.get("parameter_notes")
    return WhyReport(
        step=step,
        run=target,
        previous=previous,
        changes=changes,
        notes=dict(notes) if isinstance(notes, Mapping) else {},
    )


def recorded_steps(tracker: Any, project: str | None) -> list[str]:
    """The steps with a recorded pipeline run in `project`, sorted (what `why` can explain)."""
    runs = tracker.runs(project, {"info.step": {"$exists": True}})
    return sorted({str(r.info["step"]) for r in runs if r.info.get("step")})


def why_step(
    tracker: Any,
    step: str,
    execution: str | None = None,
    path: str | None = None,
    project: str | None = None,
) -> WhyReport:
    """`why` for a step named by the user: the project from the pipeline at `path` (or ./)
    unless given, and a `NotFound` listing the steps there are when `step` is none of them."""
    from stepline.errors import NotFound, SteplineError
    from stepline.pipeline.spec import find_pipeline_file, load_pipeline

    spec = None
    if project is None:
        try:
            spec = load_pipeline(find_pipeline_file(path))
            project = spec.project
        except SteplineError:
            if path is not None:
                raise
    if spec is not None and step not in spec.steps:
        raise NotFound(f"no step {step!r} in {spec.path}; its steps: {', '.join(spec.steps)}")
    if spec is None and step not in (ran := recorded_steps(tracker, project)):
        where = f"in project {project!r}" if project else "in any project"
        listed = f"steps with runs: {', '.join(ran)}" if ran else "no step has run there yet"
        raise NotFound(f"no step {step!r} has run {where}; {listed}")
    return why(tracker, project, step, execution)
