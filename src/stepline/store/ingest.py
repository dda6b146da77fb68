"""Adding files to the store: hash (unless the stat cache knows them), copy what is new, in parallel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stepline import progress
from stepline.errors import PathEscape, StoreError
from stepline.store.hashing import hash_file
from stepline.store.leases import Lease
from stepline.store.manifest import Entry, clean_entry_path
from stepline.store.objects import LocalObjectStore, ObjectStore
from stepline.store.statcache import StatCache


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_size, b.st_mtime_ns)


def lease_for(store: ObjectStore) -> Lease | None:
    """A new claim on objects that gc honours until released; None for stores without leases."""
    return store.lease() if isinstance(store, LocalObjectStore) else None


def _digest(src: Path, cache: StatCache | None) -> tuple[Entry, os.stat_result, bool]:
    """(entry, stat, hashed now) for one file: the stat cache spares hashing an unchanged file."""
    st = os.stat(src)
    digest = cache.get(st) if cache is not None else None
    if digest is not None:
        return Entry(digest, st.st_size), st, False
    digest = hash_file(src, st.st_size)
    if not _same(st, os.stat(src)):  # written to while we read it: start again
        return _digest(src, cache)
    return Entry(digest, st.st_size), st, True


def ingest(
    store: ObjectStore,
    files: Sequence[Path],
    lease: Lease | None = None,
    label: str = "",
    stat_cache: StatCache | None = None,
) -> list[Entry]:
    """Store every file and return its entry, in order; objects are durable on return.

    Each file is hashed (unless the stat cache knows it), then the store is asked which digests
    it is `missing`, and only those are put. Pass the draft's `lease` (`lease_for`) so that gc
    leaves the objects alone until the draft is committed: digests are claimed before the store
    is asked. A local store copies the new files into its temp folder and makes them durable in
    one batch; the stat cache is the store's own unless `stat_cache` is given.
    Reports a `hash` task (files and bytes) to the installed `stepline.progress` observer.
    """
    local = store if isinstance(store, LocalObjectStore) else None
    cache = stat_cache if stat_cache is not None else (local.stat_cache if local else None)
    task = None
    if progress.current() is not None:
        sizes = sum(os.stat(p).st_size for p in files)
        task = progress.start("hash", label or str(files[0]) if files else "", len(files), sizes)

    def one(src: Path) -> tuple[Entry, os.stat_result, bool]:
        result = _digest(src, cache)
        if task is not None:
            task.advance(1, result[0].size, src.name)
        return result

    workers = max(2, min(8, (os.cpu_count() or 1) * 2))
    if len(files) > 2:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, files))
    else:
        results = [one(p) for p in files]
    if task is not None:
        task.finish()
    if lease is not None:
        lease.add([e.digest for e, _, _ in results])
    absent = store.missing(e.digest for e, _, _ in results)
    first: dict[str, int] = {}
    for i, (e, _, _) in enumerate(results):
        if e.digest in absent:
            first.setdefault(e.digest, i)
    todo = sorted(first.values())
    if local is not None:
        _put_local(local, files, results, todo, lease, workers)
    else:

        def put(i: int) -> None:
            entry, st, _ = results[i]
            store.put_file(files[i], entry.digest)
            if not _same(st, os.stat(files[i])):
                raise StoreError(
                    f"{files[i]} changed while it was being stored; add it again once it is written"
                )

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(put, todo))
    if cache is not None:
        cache.put_many([(st, e.digest) for e, st, hashed in results if hashed])
    return [e for e, _, _ in results]


def _put_local(
    store: LocalObjectStore,
    files: Sequence[Path],
    results: list[tuple[Entry, os.stat_result, bool]],
    todo: list[int],
    lease: Lease | None,
    workers: int,
) -> None:
    """Copy the new files into the temp folder (in parallel), then commit them in one batch.

    A file written to since it was hashed is hashed again, and its entry follows the new bytes."""

    def stage(i: int) -> tuple[int, Entry, os.stat_result, Path | None]:
        entry, st, _ = results[i]
        staged = store.stage(files[i])
        if _same(st, os.stat(files[i])):
            return i, entry, st, staged
        staged.unlink(missing_ok=True)
        return (i, *_ingest_one(store, files[i], lease))

    if len(todo) > 2:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            staged = list(pool.map(stage, todo))
    else:
        staged = [stage(i) for i in todo]
    lost = {
        results[i][0].digest for i, entry, _, _ in staged if entry.digest != results[i][0].digest
    }
    if lost:  # a file changed as it was copied: its identical twins need a copy of their own
        again = [j for j, (e, _, _) in enumerate(results) if e.digest in lost and j not in todo]
        staged += [(j, *_ingest_one(store, files[j], lease)) for j in again]
    batch: dict[str, Path] = {}
    try:
        for i, entry, st, tmp in staged:
            if entry.digest != results[i][0].digest:  # changed meanwhile
                results[i] = (entry, st, True)
            if tmp is not None:
                if entry.digest in batch:
                    tmp.unlink(missing_ok=True)
                else:
                    batch[entry.digest] = tmp
        store.commit_staged(list((tmp, oid) for oid, tmp in batch.items()))
    finally:
        for _, _, _, tmp in staged:
            if tmp is not None and tmp.exists():
                tmp.unlink(missing_ok=True)


def _ingest_one(
    store: LocalObjectStore, src: Path, lease: Lease | None
) -> tuple[Entry, os.stat_result, Path | None]:
    """(entry, stat, staged copy) for a file that changed as it was stored: hashed and staged
    again until a copy matches the bytes hashed. Claimed in `lease` before the store is asked."""
    st = os.stat(src)
    digest = hash_file(src, st.st_size)
    if lease is not None:
        lease.add([digest])
    staged = None if store.has(digest) else store.stage(src)
    if not _same(st, os.stat(src)):
        if staged is not None:
            staged.unlink(missing_ok=True)
        return _ingest_one(store, src, lease)
    return Entry(digest, st.st_size), st, staged


def walk(folder: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """(entry name, path) of every file below `folder`, sorted; symlinks that leave it are refused."""
    root = folder.resolve()
    out: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real_dir = os.path.realpath(dirpath)
        if real_dir in seen:  # a link loop
            dirnames.clear()
            continue
        seen.add(real_dir)
        dirnames.sort()
        for fname in filenames:
            path = Path(dirpath) / fname
            real = path.resolve()
            if not real.is_relative_to(root):
                raise PathEscape(
                    f"{path} is a link to {real}, outside {folder}; copy the file in instead"
                )
            if not real.is_file():
                continue
            rel = path.relative_to(folder).as_posix()
            out.append((clean_entry_path(f"{prefix}/{rel}" if prefix else rel), path))
    out.sort()
    return out
