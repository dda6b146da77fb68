"""The object store port and its local adapter: one digest ↔ one immutable file."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from stepline.errors import CorruptObject, StoreError
from stepline.store import leases, links, writers
from stepline.store.hashing import hash_bytes, hash_file
from stepline.store.statcache import StatCache

#: objects carry this mtime, so any later write to one shows in its stat
OBJECT_MTIME = 1_000_000_000
#: temp files of dead writers are looked for at the first write, then at most this often
SWEEP_SECONDS = 60


class ObjectStore(Protocol):
    """What stepline needs from a place that keeps content-addressed blobs (local folder, S3, ...).

    An object id (`oid`) is the BLAKE3 hex digest of the object's bytes; objects never change.
    Reading an object that is not there raises `StoreError`; bytes that no longer hash to their
    id raise `CorruptObject`. Writing to a read-only store raises `StoreError`.
    """

    def has(self, oid: str) -> bool:
        """Whether the store holds the object."""

    def missing(self, oids: Iterable[str]) -> set[str]:
        """Which of `oids` the store does not hold: the one question an uploader asks."""

    def put_file(self, src: Path, oid: str) -> bool:
        """Store the bytes of the local file `src` under `oid` (its digest); False when present."""

    def put_bytes(self, data: bytes) -> str:
        """Store `data`; returns its id. Idempotent."""

    def get_bytes(self, oid: str) -> bytes:
        """The object's bytes, checked against `oid`."""

    def open(self, oid: str) -> BinaryIO:
        """A streaming read of the object (not checked: `get_bytes`/`materialize` check)."""

    def materialize(self, oid: str, dest: Path, link_types: Sequence[str] | None = None) -> None:
        """Put the object's bytes at the local path `dest`, checked before they appear there."""

    def delete(self, oid: str) -> None:
        """Remove the object if present (gc); no error when it is already gone."""

    def oids(self) -> Iterator[str]:
        """Every object id the store holds."""

    def size_of(self, oid: str) -> int:
        """The object's size in bytes."""


def oid_to_path(root: Path, oid: str) -> Path:
    """The one mapping from a digest to where its object lives: `objects/ab/cdef…`."""
    if len(oid) < 3 or not all(c in "0123456789abcdef" for c in oid):
        raise StoreError(f"not an object id: {oid!r}")
    return root / oid[:2] / oid[2:]


def copy_objects(src: ObjectStore, dest: ObjectStore, oids: Iterable[str]) -> int:
    """Put into `dest` those of `oids` it is missing, read (checked) from `src`; how many."""
    absent = sorted(dest.missing(oids))
    for oid in absent:
        if isinstance(src, LocalObjectStore):
            dest.put_file(src.verify(oid), oid)
            continue
        import tempfile

        with tempfile.TemporaryDirectory(prefix="stepline-copy-") as tmp:
            path = Path(tmp) / oid
            src.materialize(oid, path, ["copy"])
            dest.put_file(path, oid)
    return len(absent)


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


class LocalObjectStore:
    """Objects under `<root>/objects/ab/cdef…`, written by temp file + fsync + rename, read-only."""

    def __init__(
        self,
        root: Path,
        stat_cache: StatCache,
        fsync: bool | None = None,
        read_only: bool = False,
        link_types: Sequence[str] | None = None,
    ) -> None:
        self.root = root / "objects"
        self.tmp = root / "tmp"
        self.leases = root / "leases"
        self.stat_cache = stat_cache
        if fsync is None or link_types is None:
            from stepline.settings import current

            given = current()
            fsync = given.fsync if fsync is None else fsync
            link_types = given.link_types() if link_types is None else link_types
        #: flush new objects durably (STEPLINE_FSYNC); how `materialize` places files, in order
        self.fsync = fsync
        self.link_types = tuple(link_types)
        self._shards: set[str] = set()
        self._swept = -float(SWEEP_SECONDS)
        self._no_clone: set[Path] = set()  # folders where a reflink failed: copy straight away
        self.read_only = read_only
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir(parents=True, exist_ok=True)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(
                f"the store {self.root.parent} is read-only; reading works, writing needs a"
                " writable store: set STEPLINE_DIR to one"
            )

    def path(self, oid: str) -> Path:
        return oid_to_path(self.root, oid)

    def __str__(self) -> str:
        return str(self.root)

    def has(self, oid: str) -> bool:
        return self.path(oid).exists()

    def missing(self, oids: Iterable[str]) -> set[str]:
        return {oid for oid in set(oids) if not self.path(oid).exists()}

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
        self._writable()
        now = time.monotonic()
        if now - self._swept > SWEEP_SECONDS:
            self._swept = now
            self.sweep_dead_writers()
        return self.tmp / writers.tag()

    def sweep_dead_writers(self) -> int:
        """Remove temp files left by writers of this host that died (kill -9); how many went."""
        gone = 0
        try:
            names = os.listdir(self.tmp)
        except FileNotFoundError:
            return 0
        for name in names:
            if writers.dead_here(name):
                (self.tmp / name).unlink(missing_ok=True)
                gone += 1
        leases.held(self.leases)  # drops the leases of dead writers too
        return gone

    def stage(self, src: Path) -> Path:
        """Copy `src` into the store's temp folder (not yet durable, not yet visible)."""
        tmp = self._new_tmp()
        try:
            if not links.clone(src, tmp):
                import shutil

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
        self._writable()
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

    def _existing(self, oid: str) -> Path:
        path = self.path(oid)
        if not path.exists():
            raise StoreError(f"object {oid} is missing from {self.root}; run 'stepline fsck'")
        return path

    def _corrupt(self, path: Path, oid: str, actual: str) -> CorruptObject:
        return CorruptObject(
            f"object {path} is corrupt: its content hashes to {actual[:12]}…, not {oid[:12]}…;"
            " run 'stepline fsck' to list every damaged version"
        )

    def verify(self, oid: str) -> Path:
        """The object's path after checking its bytes still match `oid` (the stat cache spares re-hashing)."""
        path = self._existing(oid)
        st = os.stat(path)
        if self.stat_cache.get(st) == oid:
            return path
        actual = hash_file(path, st.st_size)
        if actual != oid:
            raise self._corrupt(path, oid, actual)
        self.stat_cache.put_many([(st, oid)])
        return path

    def open(self, oid: str) -> BinaryIO:
        return open(self._existing(oid), "rb")

    def get_bytes(self, oid: str) -> bytes:
        path = self._existing(oid)
        data = path.read_bytes()
        actual = hash_bytes(data)
        if actual != oid:
            raise self._corrupt(path, oid, actual)
        return data

    def materialize(self, oid: str, dest: Path, link_types: Sequence[str] | None = None) -> None:
        """Put the object's bytes at `dest`, checked against `oid` before they appear there.

        `link_types` are tried in order (default: `STEPLINE_LINK_TYPE`, else reflink then copy).
        A clone or a copy is hashed as it is made; hard links and symlinks share the object, which
        is verified first. Nothing is left at `dest` (nor beside it) when the bytes are wrong.
        """
        src = self._existing(oid)
        types = tuple(link_types) if link_types else self.link_types
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".stepline-{writers.tag()}.part"
        try:
            for kind in types:
                if kind == "reflink" and dest.parent in self._no_clone:
                    continue
                if self._place(src, oid, tmp, kind):
                    break
                tmp.unlink(missing_ok=True)
            else:
                raise StoreError(
                    f"cannot put {dest} with STEPLINE_LINK_TYPE={','.join(types)} on this"
                    " filesystem; add 'copy' to the list"
                )
            if dest.is_dir() and not dest.is_symlink():
                raise StoreError(f"cannot write {dest}: a folder is in the way")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _place(self, src: Path, oid: str, tmp: Path, kind: str) -> bool:
        """Make `tmp` hold the object by one link type; False when this filesystem cannot."""
        if kind in ("hardlink", "symlink"):
            self.verify(oid)
            if not links.link(src, tmp, kind):
                return False
            self.stat_cache.put_many([(os.stat(src), oid)])  # a new link changes the ctime
            return True
        if kind == "reflink":
            if not links.clone(src, tmp):
                self._no_clone.add(tmp.parent)  # a folder's files share one filesystem
                return False
            actual = hash_file(tmp)
        else:
            actual = links.copy_hashed(src, tmp)
        if actual != oid:
            raise self._corrupt(src, oid, actual)
        return True

    # -- local-only extras of gc and fsck (other stores have no temp folder, leases or ctime) ----
    def leases_held(self) -> set[str]:
        """Every object a live draft's lease claims (dropping the leases of dead writers)."""
        return leases.held(self.leases)

    def changed_at(self, oid: str) -> float | None:
        """When the object's inode last changed (a new link counts); None when it is gone."""
        try:
            return os.stat(self.path(oid)).st_ctime
        except FileNotFoundError:
            return None

    def set_aside(self, oid: str) -> Path | None:
        """Move the object out of sight into the temp folder (gc); None when it was gone."""
        trash = self.tmp / f"{writers.tag()}.gc"
        try:
            os.replace(self.path(oid), trash)
        except FileNotFoundError:
            return None
        return trash

    def put_back(self, oid: str, trash: Path) -> None:
        """Undo `set_aside`: the object was wanted after all."""
        os.replace(trash, self.path(oid))

    def sweep_tmp(self, before: float, dry_run: bool = False) -> int:
        """Remove temp files of dead writers of this host, and others older than `before`.

        A write in progress on this machine is never touched, however old. Returns how many went
        (or would go, with `dry_run`)."""
        count = 0
        for tmp in self.tmp.iterdir() if self.tmp.is_dir() else ():
            who = writers.owner(tmp.name)
            if who is not None and who[0] == writers.host() and writers.pid_alive(who[1]):
                continue
            try:
                old = writers.dead_here(tmp.name) or tmp.stat().st_mtime < before
            except FileNotFoundError:
                continue
            if old:
                count += 1
                if not dry_run:
                    tmp.unlink(missing_ok=True)
        return count

    def tmp_files(self) -> int:
        """How many temp files (leftovers of interrupted writes, or writes in progress) there are."""
        return sum(1 for _ in self.tmp.iterdir()) if self.tmp.is_dir() else 0

    def lease(self) -> leases.Lease:
        """A new claim on objects, honoured by gc until it is released (see `store/leases.py`)."""
        self._writable()
        return leases.Lease(self.leases)

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
        try:
            return self.path(oid).stat().st_size
        except FileNotFoundError:
            raise StoreError(f"object {oid} is missing from {self.root}") from None
