"""Garbage collection: drop old unaliased versions (keep-last-N), then objects nothing points at."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

#: objects changed this recently may belong to a version being logged right now: never collected
GRACE_SECONDS = 3600


@dataclass
class GcReport:
    versions: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    tmp_files: int = 0
    dry_run: bool = False


def gc(
    backend: Any,
    keep_last: int | None = None,
    dry_run: bool = False,
    grace_seconds: float = GRACE_SECONDS,
) -> GcReport:
    """Collect garbage. Versions with an alias (`latest` included) or a registry link are kept."""
    report = GcReport(dry_run=dry_run)
    if keep_last is not None:
        registered = backend.registered_version_ids()
        by_artifact: dict[tuple[str, str], list[Any]] = defaultdict(list)
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
    live: set[str] = set()
    for v in backend.iter_versions():
        live.update(e.digest for e in v.manifest.entries.values() if e.ref is None)
    live |= backend.log_oids() | backend.media_oids()
    objects = backend.objects
    cutoff = time.time() - grace_seconds
    for oid in list(objects.oids()):
        if oid in live:
            continue
        path = objects.path(oid)
        st = os.stat(path)
        if st.st_ctime > cutoff:
            continue
        report.objects += 1
        report.bytes += st.st_size
        if not dry_run:
            objects.delete(oid)
    for tmp in objects.tmp.iterdir():
        if tmp.stat().st_mtime < cutoff:
            report.tmp_files += 1
            if not dry_run:
                tmp.unlink(missing_ok=True)
    return report
