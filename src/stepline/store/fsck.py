"""fsck: re-hash every object and check that every version's files are in the store."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from stepline.store.hashing import hash_file


@dataclass
class FsckReport:
    objects: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)  # object paths whose bytes do not match
    missing: list[str] = field(default_factory=list)  # "project/name:vN path" with no object
    damaged_versions: list[str] = field(default_factory=list)
    tmp_files: int = 0  # leftovers of interrupted writes: garbage, not damage

    @property
    def clean(self) -> bool:
        return not (self.corrupt or self.missing)


def fsck(backend: Any) -> FsckReport:
    """Verify the whole store; the report says what is damaged and which versions it affects."""
    report = FsckReport()
    objects = backend.objects
    bad: set[str] = set()
    for oid in objects.oids():
        path = objects.path(oid)
        size = os.stat(path).st_size
        report.objects += 1
        report.bytes += size
        if hash_file(path, size) != oid:
            report.corrupt.append(str(path))
            bad.add(oid)
    for v in backend.iter_versions():
        damaged = False
        for name, entry in sorted(v.manifest.entries.items()):
            if entry.ref is not None:
                continue
            if entry.digest in bad:
                damaged = True
            elif not objects.has(entry.digest):
                report.missing.append(f"{v.ref} {name}")
                damaged = True
        if damaged:
            report.damaged_versions.append(v.ref)
    report.tmp_files = sum(1 for _ in objects.tmp.iterdir())
    return report
