"""fsck: re-hash every object and check that every version's files are in the store.

Objects are read through the `ObjectStore` port (a local store hashes its files in place, on
every core for large ones), versions through the backend's `ArtifactStore` port.

>>> report = fsck(backend)
>>> report.clean, report.corrupt, report.damaged_versions
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import blake3

from stepline.errors import StoreError
from stepline.store.hashing import hash_file
from stepline.store.objects import LocalObjectStore, ObjectStore

if TYPE_CHECKING:
    from stepline.backends.base import Backend

_CHUNK = 1 << 20


@dataclass
class FsckReport:
    """What is damaged, and which versions it affects."""

    objects: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)  # objects whose bytes do not match
    missing: list[str] = field(default_factory=list)  # "project/name:vN path" with no object
    damaged_versions: list[str] = field(default_factory=list)
    tmp_files: int = 0  # leftovers of interrupted writes: garbage, not damage

    @property
    def clean(self) -> bool:
        return not (self.corrupt or self.missing)


def _digest(objects: ObjectStore, oid: str, size: int) -> tuple[str, str]:
    """(the digest of the object's bytes, how to name it in a report)."""
    if isinstance(objects, LocalObjectStore):
        path = objects.path(oid)
        return hash_file(path, size), str(path)
    hasher = blake3.blake3()
    with objects.open(oid) as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest(), oid


def fsck(backend: Backend) -> FsckReport:
    """Verify the whole store; the report says what is damaged and which versions it affects."""
    report = FsckReport()
    objects = backend.objects
    bad: set[str] = set()
    for oid in objects.oids():
        try:
            size = objects.size_of(oid)
            actual, where = _digest(objects, oid, size)
        except (StoreError, FileNotFoundError):  # removed since it was listed (gc)
            continue
        report.objects += 1
        report.bytes += size
        if actual != oid:
            report.corrupt.append(where)
            bad.add(oid)
    versions = list(backend.iter_versions())
    wanted = {e.digest for v in versions for e in v.manifest.entries.values() if e.ref is None}
    absent = objects.missing(wanted - bad)
    for v in versions:
        damaged = False
        for name, entry in sorted(v.manifest.entries.items()):
            if entry.ref is not None:
                continue
            if entry.digest in bad:
                damaged = True
            elif entry.digest in absent:
                report.missing.append(f"{v.ref} {name}")
                damaged = True
        if damaged:
            report.damaged_versions.append(v.ref)
    if isinstance(objects, LocalObjectStore):
        report.tmp_files = objects.tmp_files()
    return report
