"""Which artifact versions `stepline gc --keep-last N` may delete, and why the others stay.

A version beyond the N newest of its artifact is kept when:

- it has an alias (`latest` included) or is linked in the model registry;
- with `keep_lineage` (the default), something a promoted version was made from: walking upstream
  from every version with a user alias (not `latest`) or a registry link, through the runs that
  produced it and the versions those runs used, transitively. Deleting the raw data behind the
  `prod` model would make it impossible to reproduce.

`collect()` applies the plan and then sweeps unreferenced objects (`backends.gc`), which keeps objects
younger than the grace period: they may belong to a version being logged at this moment.

>>> report = collect(backend, keep_last=3)
>>> [(k.ref, k.reason) for k in report.kept]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from stepline.backends.base import Backend, VersionRecord
from stepline.backends.gc import GRACE_SECONDS
from stepline.backends.gc import gc as sweep


@dataclass
class Kept:
    """A version `keep_last` alone would have deleted, and what keeps it."""

    ref: str
    reason: str


@dataclass
class RetentionPlan:
    delete: list[VersionRecord] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


@dataclass
class CollectReport:
    """What gc removed (or would remove, with `dry_run`) and what it kept on purpose."""

    versions: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    young_objects: int = 0
    young_bytes: int = 0
    tmp_files: int = 0
    grace_seconds: float = GRACE_SECONDS
    keep_lineage: bool = True
    dry_run: bool = False


def _label(v: VersionRecord, registered: set[int]) -> str:
    aliases = [a for a in v.aliases if a != "latest"]
    if aliases:
        return f"{v.ref} ({', '.join(aliases)})"
    return f"{v.ref} (registered)" if v.id in registered else v.ref


def upstream_of(
    backend: Backend, roots: list[VersionRecord], by_id: dict[int, VersionRecord]
) -> dict[int, VersionRecord]:
    """Every version id the `roots` were made from (transitively) → the root that reaches it."""
    reached: dict[int, VersionRecord] = {}
    seen_runs: set[str] = set()
    for root in roots:
        stack = [root.id]
        while stack:
            vid = stack.pop()
            version = by_id.get(vid)
            run_ids = {r.id for r in backend.producers(vid)}
            if version is not None and version.run_id:
                run_ids.add(version.run_id)
            for run_id in run_ids - seen_runs:
                seen_runs.add(run_id)
                for used in backend.inputs(run_id):
                    if used.id not in reached and used.id != root.id:
                        reached[used.id] = root
                        stack.append(used.id)
        seen_runs.clear()  # each root walks its own lineage, so every reason names a root
    return reached


def plan(backend: Backend, keep_last: int, keep_lineage: bool = True) -> RetentionPlan:
    """The versions beyond the `keep_last` newest of each artifact that nothing keeps."""
    registered = backend.registered_version_ids()
    versions = list(backend.iter_versions())
    by_id = {v.id: v for v in versions}
    lineage: dict[int, VersionRecord] = {}
    if keep_lineage:
        roots = [v for v in versions if set(v.aliases) - {"latest"} or v.id in registered]
        lineage = upstream_of(backend, roots, by_id)
    by_artifact: dict[tuple[str, str], list[VersionRecord]] = defaultdict(list)
    for v in versions:
        by_artifact[(v.project, v.name)].append(v)
    result = RetentionPlan()
    for group in by_artifact.values():
        group.sort(key=lambda v: v.version, reverse=True)
        for v in sorted(group[keep_last:], key=lambda v: v.version):
            if v.aliases:
                result.kept.append(Kept(v.ref, f"alias {', '.join(v.aliases)}"))
            elif v.id in registered:
                result.kept.append(Kept(v.ref, "registered in the model registry"))
            elif v.id in lineage:
                root = _label(lineage[v.id], registered)
                result.kept.append(Kept(v.ref, f"{root} was made from it"))
            else:
                result.delete.append(v)
    return result


def collect(
    backend: Backend,
    keep_last: int | None = None,
    keep_lineage: bool = True,
    dry_run: bool = False,
    grace_seconds: float = GRACE_SECONDS,
) -> CollectReport:
    """Delete the versions `plan` selects (with `keep_last`), then unreferenced objects."""
    report = CollectReport(grace_seconds=grace_seconds, keep_lineage=keep_lineage, dry_run=dry_run)
    if keep_last is not None:
        selected = plan(backend, keep_last, keep_lineage)
        report.kept = selected.kept
        for v in selected.delete:
            report.versions.append(v.ref)
            if not dry_run:
                backend.delete_version(v.id)
    swept = sweep(backend, keep_last=None, dry_run=dry_run, grace_seconds=grace_seconds)
    report.objects, report.bytes, report.tmp_files = swept.objects, swept.bytes, swept.tmp_files
    report.young_objects = swept.young_objects
    report.young_bytes = swept.young_bytes
    return report
