"""Manifests: the sorted entries of one artifact version, and their digest. Pure."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import InvalidName, PathEscape
from stepline.store.hashing import hash_bytes

#: the manifest format: v2 hashes canonical JSON; v1 hashed `path:digest` lines, which a name
#: holding ':' and a newline could forge (metadata/migrations.py recomputes v1 digests)
MANIFEST_HEADER = "stepline-manifest-v2"
#: the longest entry path and path component, in UTF-8 bytes (Linux's PATH_MAX and NAME_MAX)
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


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
        """Digest over the sorted (path, digest) pairs; sizes, metadata and descriptions are left out.

        The pairs are encoded as canonical JSON (`[["a.csv","ab12…"],…]`, ASCII only), in which no
        name can pass for the end of one entry and the start of another."""
        pairs = [[p, self.entries[p].digest] for p in sorted(self.entries)]
        body = json.dumps(pairs, ensure_ascii=True, separators=(",", ":"))
        return hash_bytes(f"{MANIFEST_HEADER}\n{body}".encode())

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


def control_char(text: str) -> str | None:
    """The first control character in `text` (C0, DEL or C1), if any."""
    for ch in text:
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            return ch
    return None


def clean_entry_path(name: str) -> str:
    """Normalise an entry name to a relative POSIX path, refusing anything that leaves the root,
    control characters, and names no filesystem could hold (a component over 255 bytes, a path
    over 4096)."""
    if not isinstance(name, str):
        raise InvalidName(f"artifact path {name!r} must be a string, like 'data/train.csv'")
    bad = control_char(name)
    if bad is not None:
        raise InvalidName(
            f"artifact path {name!r} contains the control character {bad!r}; use printable"
            " characters only (no NUL, newline, tab, ...)"
        )
    raw = name.replace("\\", "/")
    if not raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise PathEscape(f"artifact path {name!r} must be relative, like 'data/train.csv'")
    norm = posixpath.normpath(raw)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise PathEscape(f"artifact path {name!r} leaves the artifact's root; use a path below it")
    size = len(norm.encode("utf-8", "surrogateescape"))
    if size > MAX_PATH_BYTES:
        raise InvalidName(
            f"artifact path {norm[:60]!r}… is {size} bytes long; paths can have at most"
            f" {MAX_PATH_BYTES} bytes (UTF-8)"
        )
    for part in norm.split("/"):
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > MAX_NAME_BYTES:
            raise InvalidName(
                f"artifact path {norm[:60]!r}…: the name {part[:40]!r}… is {size} bytes long;"
                f" each name in a path can have at most {MAX_NAME_BYTES} bytes (UTF-8)"
            )
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
