"""Adding files to the store: hash (unless the stat cache knows them), copy what is new, in parallel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stepline.errors import PathEscape
from stepline.store.hashing import hash_file
from stepline.store.manifest import Entry, clean_entry_path
from stepline.store.objects import LocalObjectStore


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_size, b.st_mtime_ns)


def _ingest_one(
    store: LocalObjectStore, src: Path
) -> tuple[Entry, os.stat_result | None, Path | None]:
    """(entry, stat to remember, staged copy to commit) for one file."""
    st = os.stat(src)
    digest = store.stat_cache.get(st)
    if digest is not None and store.has(digest):
        return Entry(digest, st.st_size), None, None
    digest = hash_file(src, st.st_size)
    staged = None if store.has(digest) else store.stage(src)
    if not _same(st, os.stat(src)):  # written to while we read it: start again
        if staged is not None:
            staged.unlink(missing_ok=True)
        return _ingest_one(store, src)
    return Entry(digest, st.st_size), st, staged


def ingest(store: LocalObjectStore, files: Sequence[Path]) -> list[Entry]:
    """Store every file and return its entry, in order; objects are durable on return."""
    if len(files) > 2:
        with ThreadPoolExecutor(max_workers=max(2, min(8, (os.cpu_count() or 1) * 2))) as pool:
            results = list(pool.map(lambda p: _ingest_one(store, p), files))
    else:
        results = [_ingest_one(store, p) for p in files]
    staged = {e.digest: tmp for e, _, tmp in results if tmp is not None}
    try:
        store.commit_staged([(tmp, oid) for oid, tmp in staged.items()])
    finally:
        for _, _, tmp in results:  # duplicates of an object staged twice in this batch
            if tmp is not None and tmp.exists():
                tmp.unlink(missing_ok=True)
    store.stat_cache.put_many([(st, e.digest) for e, st, _ in results if st is not None])
    return [e for e, _, _ in results]


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
