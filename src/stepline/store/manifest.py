"""Manifests: the sorted entries of one artifact version, and their digest. Pure."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import PathEscape
from stepline.store.hashing import digest_lines

MANIFEST_HEADER = "stepline-manifest-v1"


@dataclass(frozen=True)
class Entry:
    """One file of a version: its content digest and size, or an external reference."""

    digest: str
    size: int
    ref: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": self.digest, "size": self.size}
        if self.ref is not None:
            out["ref"] = self.ref
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(data["digest"], int(data["size"]), data.get("ref"), data.get("extra") or {})


@dataclass
class Manifest:
    """Entry path (relative, POSIX) → Entry."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def digest(self) -> str:
        """Digest over the sorted (path, digest) pairs; sizes, metadata and descriptions are left out."""
        return digest_lines(
            MANIFEST_HEADER, (f"{p}:{self.entries[p].digest}" for p in sorted(self.entries))
        )

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries.values())

    def to_json(self) -> str:
        return json.dumps(
            {p: self.entries[p].to_json() for p in sorted(self.entries)}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls({p: Entry.from_json(e) for p, e in json.loads(text).items()})


def clean_entry_path(name: str) -> str:
    """Normalise an entry name to a relative POSIX path, refusing anything that leaves the root."""
    raw = name.replace("\\", "/")
    if not raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise PathEscape(f"artifact path {name!r} must be relative, like 'data/train.csv'")
    norm = posixpath.normpath(raw)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise PathEscape(f"artifact path {name!r} leaves the artifact's root; use a path below it")
    return norm


@dataclass(frozen=True)
class Change:
    path: str
    kind: str  # "added" | "removed" | "changed"
    old: Entry | None
    new: Entry | None


def diff(old: Manifest, new: Manifest) -> list[Change]:
    """Files added, removed and changed from `old` to `new`, sorted by path."""
    out: list[Change] = []
    for path in sorted(old.entries.keys() | new.entries.keys()):
        a, b = old.entries.get(path), new.entries.get(path)
        if a is None:
            out.append(Change(path, "added", None, b))
        elif b is None:
            out.append(Change(path, "removed", a, None))
        elif a.digest != b.digest:
            out.append(Change(path, "changed", a, b))
    return out
