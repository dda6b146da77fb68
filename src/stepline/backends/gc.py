"""Garbage collection: drop old unaliased versions (keep-last-N), then objects nothing points at.

The live set is asked of the backend's ports (versions' manifests, run logs, media, registry
links) and the objects of `backend.objects` are swept through the `ObjectStore` port. A local
store also honours draft leases (`store/leases.py`) and sweeps the temp files of dead writers;
every store that can tell an object's age (local files, S3) keeps the grace period (objects
changed within it are never collected). A store that cannot keeps every unreferenced object
unless `grace_seconds` is 0.

>>> report = gc(backend, keep_last=3, dry_run=True)
>>> report.versions, report.objects, report.bytes
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stepline.errors import StoreError
from stepline.store.objects import LocalObjectStore

if TYPE_CHECKING:
    from stepline.backends.base import Backend, VersionRecord

#: objects changed this recently may belong to a version being logged right now: never collected
GRACE_SECONDS = 3600


@dataclass
class GcReport:
    """What gc removed (or would remove, with `dry_run`)."""

    versions: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    tmp_files: int = 0
    dry_run: bool = False
    young_objects: int = 0  # unreferenced, but younger than the grace period: kept
    young_bytes: int = 0


def gc(
    backend: Backend,
    keep_last: int | None = None,
    dry_run: bool = False,
    grace_seconds: float = GRACE_SECONDS,
    leased: Callable[[], set[str]] | None = None,
) -> GcReport:
    """Collect garbage. Versions with an alias (`latest` included) or a registry link are kept.

    `leased` gives more objects to keep, read as the store's own leases are (a team server's
    upload leases, `server.gc`)."""
    report = GcReport(dry_run=dry_run)
    if keep_last is not None:
        registered = backend.registered_version_ids()
        by_artifact: dict[tuple[str, str], list[VersionRecord]] = defaultdict(list)
        for v in backend.iter_versions():
            by_artifact[(v.project, v.name)].append(v)
        for versions in by_artifact.values():
            versions.sort(key=lambda v: v.version, reverse=True)
            for v in sorted(versions[keep_last:], key=lambda v: v.version):
                if v.aliases or v.id in registered:
                    continue
                report.versions.append(v.ref)
                if not dry_run:
                    backend.delete_version(v.id)
    objects = backend.objects
    local = objects if isinstance(objects, LocalObjectStore) else None

    def held() -> set[str]:
        return (local.leases_held() if local is not None else set()) | (
            leased() if leased is not None else set()
        )

    claimed = held()
    aged = getattr(objects, "changed_at", None)  # a store that can tell an object's age
    live = _live(backend)
    cutoff = time.time() - grace_seconds
    trashed: list[tuple[str, Path, int]] = []
    doomed: list[tuple[str, int]] = []
    for oid in list(objects.oids()):
        if oid in live or oid in claimed:
            continue
        if aged is not None:
            changed = aged(oid)
            if changed is None:  # gone meanwhile
                continue
            young = changed > cutoff
        else:
            young = grace_seconds > 0  # its age is unknown: only `grace 0` collects it
        try:
            size = objects.size_of(oid)
        except StoreError:  # gone meanwhile
            continue
        if young:
            report.young_objects += 1
            report.young_bytes += size
            continue
        if dry_run:
            report.objects += 1
            report.bytes += size
        elif local is not None:
            trash = local.set_aside(oid)
            if trash is not None:
                trashed.append((oid, trash, size))
        else:
            doomed.append((oid, size))
    if trashed or doomed:
        # A writer claims an object before it checks the store has it, and releases the claim only
        # after its commit: so an object moved aside above that is still wanted shows up now,
        # in a lease read after the move or (its lease released) in a version read after that.
        wanted = held() | _live(backend)
        for oid, trash, size in trashed:
            if oid in wanted and local is not None:
                local.put_back(oid, trash)
            else:
                trash.unlink(missing_ok=True)
                report.objects += 1
                report.bytes += size
        for oid, size in doomed:
            if oid not in wanted:
                objects.delete(oid)
                report.objects += 1
                report.bytes += size
    if local is not None:
        report.tmp_files = local.sweep_tmp(cutoff, dry_run)
    return report


def _live(backend: Backend) -> set[str]:
    """Every object a committed version, a run log or a media file refers to."""
    live: set[str] = set()
    for v in backend.iter_versions():
        live.update(e.digest for e in v.manifest.entries.values() if e.ref is None)
    return live | backend.log_oids() | backend.media_oids()
