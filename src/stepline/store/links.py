"""How an object's bytes reach a user's folder: reflink, copy, hard link or symlink.

A reflink (copy-on-write clone) or a copy is a file of the user's own: editing it can never reach
the store. Hard links and symlinks share the store's only copy, so they are used only when asked
for (`STEPLINE_LINK_TYPE=hardlink`), like DVC's `cache.type`. Copies are hashed while they are
written and clones are hashed after they are made, so a caller can compare what was handed out
with the manifest before the file appears under its name.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from stepline.errors import InvalidValue

#: every way an object can reach a user's folder, safest first
LINK_TYPES = ("reflink", "copy", "hardlink", "symlink")
#: the default: a clone where the filesystem can make one, else a copy
DEFAULT_LINK_TYPES = ("reflink", "copy")
#: errors that mean "this filesystem cannot do that here": try the next link type
UNSUPPORTED = {
    errno.EXDEV,
    errno.EPERM,
    errno.EMLINK,
    errno.ENOTSUP,
    errno.EOPNOTSUPP,
    errno.EINVAL,
    errno.ENOTTY,
    errno.EBADF,
}
_FICLONE = 0x40049409
_CHUNK = 1 << 20


def parse_link_types(value: str | None) -> tuple[str, ...]:
    """`"reflink,copy"` → `("reflink", "copy")`; unset or empty means the default."""
    if not value or not value.strip():
        return DEFAULT_LINK_TYPES
    types = tuple(t.strip().lower() for t in value.split(",") if t.strip())
    bad = [t for t in types if t not in LINK_TYPES]
    if bad:
        raise InvalidValue(
            f"STEPLINE_LINK_TYPE={value!r}: unknown link type {bad[0]!r}; use a comma-separated"
            f" list of {', '.join(LINK_TYPES)} (default: {','.join(DEFAULT_LINK_TYPES)})"
        )
    return types


def clone(src: Path, dest: Path) -> bool:
    """Make `dest` a copy-on-write clone of `src` (FICLONE: btrfs, XFS, ...); False where unsupported."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return False
    with open(src, "rb") as s, open(dest, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
            return True
        except OSError as exc:
            if exc.errno in UNSUPPORTED:
                return False
            raise


def copy_hashed(src: Path, dest: Path) -> str:
    """Copy `src` to `dest` and return the BLAKE3 digest of the bytes written, in one pass."""
    import blake3  # loaded with the first copy, not with the store (see hashing._blake3)

    hasher = blake3.blake3()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(src, "rb", buffering=0) as s, open(dest, "wb", buffering=0) as d:
        while n := s.readinto(buf):
            chunk = view[:n]
            hasher.update(chunk)
            while chunk:
                chunk = chunk[d.write(chunk) :]
    return hasher.hexdigest()


def link(src: Path, dest: Path, kind: str) -> bool:
    """A hard link or a symlink at `dest`; False when the filesystem refuses that kind here."""
    try:
        if kind == "hardlink":
            os.link(src, dest)
        else:
            os.symlink(src.resolve(), dest)
        return True
    except OSError as exc:
        if exc.errno in UNSUPPORTED:
            return False
        raise
