"""The object store port and its local adapter: one digest ↔ one immutable file."""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from stepline.errors import CorruptObject, StoreError
from stepline.store.hashing import hash_bytes, hash_file
from stepline.store.statcache import StatCache

#: objects carry this mtime, so any later write to one shows in its stat
OBJECT_MTIME = 1_000_000_000


class ObjectStore(Protocol):
    """What stepline needs from a place that keeps content-addressed blobs."""

    def has(self, oid: str) -> bool: ...
    def put_file(self, src: Path, oid: str) -> bool: ...
    def put_bytes(self, data: bytes) -> str: ...
    def get_bytes(self, oid: str) -> bytes: ...
    def materialize(self, oid: str, dest: Path, link: bool = True) -> None: ...
    def delete(self, oid: str) -> None: ...
    def oids(self) -> Iterator[str]: ...


def oid_to_path(root: Path, oid: str) -> Path:
    """The one mapping from a digest to where its object lives: `objects/ab/cdef…`."""
    if len(oid) < 3 or not all(c in "0123456789abcdef" for c in oid):
        raise StoreError(f"not an object id: {oid!r}")
    return root / oid[:2] / oid[2:]


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(path: Path) -> bool:
    """Flush the whole filesystem holding `path` in one call (Linux); False where unavailable.

    One syncfs costs one journal commit, where an fsync per object costs one each."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def _reflink(src: Path, dest: Path) -> bool:
    """Copy-on-write clone where the filesystem allows (btrfs, XFS); False elsewhere."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return False
    ficlone = 0x40049409
    with open(src, "rb") as s, open(dest, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), ficlone, s.fileno())
            return True
        except OSError:
            return False


class LocalObjectStore:
    """Objects under `<root>/objects/ab/cdef…`, written by temp file + fsync + rename, read-only."""

    def __init__(self, root: Path, stat_cache: StatCache, fsync: bool | None = None) -> None:
        self.root = root / "objects"
        self.tmp = root / "tmp"
        self.stat_cache = stat_cache
        self.fsync = fsync if fsync is not None else os.environ.get("STEPLINE_FSYNC", "1") != "0"
        self._shards: set[str] = set()
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, oid: str) -> Path:
        return oid_to_path(self.root, oid)

    def has(self, oid: str) -> bool:
        return self.path(oid).exists()

    def _commit_tmp(self, tmp: Path, oid: str) -> os.stat_result:
        dest = self.path(oid)
        shard = oid[:2]
        if shard not in self._shards:
            dest.parent.mkdir(exist_ok=True)
            self._shards.add(shard)
        os.utime(tmp, ns=(OBJECT_MTIME * 10**9, OBJECT_MTIME * 10**9))
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
        return os.stat(dest)

    def _new_tmp(self) -> Path:
        return self.tmp / uuid.uuid4().hex

    def stage(self, src: Path) -> Path:
        """Copy `src` into the store's temp folder (not yet durable, not yet visible)."""
        tmp = self._new_tmp()
        try:
            if not _reflink(src, tmp):
                shutil.copyfile(src, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def commit_staged(self, staged: list[tuple[Path, str]]) -> None:
        """Make staged copies durable, then visible under their digests, then the renames durable.

        A crash at any point leaves either no object or a whole one; never a named, empty one.
        """
        if not staged:
            return
        if self.fsync and not _syncfs(self.tmp):
            for tmp, _ in staged:
                _fsync_path(tmp)
        committed = []
        for tmp, oid in staged:
            if self.has(oid):
                tmp.unlink(missing_ok=True)
                continue
            committed.append((self._commit_tmp(tmp, oid), oid))
        self.stat_cache.put_many(committed)
        self.sync()

    def put_file(self, src: Path, oid: str) -> bool:
        """Store a copy of `src` under `oid`; False when it was already there. Idempotent."""
        if self.has(oid):
            return False
        self.commit_staged([(self.stage(src), oid)])
        return True

    def put_bytes(self, data: bytes) -> str:
        oid = hash_bytes(data)
        if self.has(oid):
            return oid
        tmp = self._new_tmp()
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            self.stat_cache.put_many([(self._commit_tmp(tmp, oid), oid)])
            if self.fsync:
                _fsync_path(self.path(oid).parent)
        finally:
            tmp.unlink(missing_ok=True)
        return oid

    def sync(self) -> None:
        """Make the renames so far durable."""
        if self.fsync and not _syncfs(self.root):
            for shard in self._shards:
                _fsync_path(self.root / shard)

    def verify(self, oid: str) -> Path:
        """The object's path after checking its bytes still match `oid` (the stat cache spares re-hashing)."""
        path = self.path(oid)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise StoreError(
                f"object {oid} is missing from {self.root}; run 'stepline fsck'"
            ) from None
        if self.stat_cache.get(st) == oid:
            return path
        actual = hash_file(path, st.st_size)
        if actual != oid:
            raise CorruptObject(
                f"object {path} is corrupt: its content hashes to {actual[:12]}…, not {oid[:12]}…;"
                " run 'stepline fsck' to list every damaged version"
            )
        self.stat_cache.put_many([(st, oid)])
        return path

    def get_bytes(self, oid: str) -> bytes:
        return self.verify(oid).read_bytes()

    def materialize(self, oid: str, dest: Path, link: bool = True) -> None:
        """Put the object's bytes at `dest`: reflink, else hard link, else copy; verified first."""
        src = self.verify(oid)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() or dest.is_symlink():
            try:
                if dest.stat().st_ino == src.stat().st_ino:
                    return
            except OSError:
                pass
            dest.unlink()
        if link and _reflink(src, dest):
            return
        dest.unlink(missing_ok=True)
        if link:
            try:
                os.link(src, dest)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
        shutil.copyfile(src, dest)

    def delete(self, oid: str) -> None:
        self.path(oid).unlink(missing_ok=True)

    def oids(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for shard in sorted(os.listdir(self.root)):
            folder = self.root / shard
            if len(shard) == 2 and folder.is_dir():
                for rest in sorted(os.listdir(folder)):
                    yield shard + rest

    def size_of(self, oid: str) -> int:
        return self.path(oid).stat().st_size
