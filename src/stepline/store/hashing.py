"""BLAKE3 digests of bytes and files; large files hash on every core."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

#: files at least this large are hashed with BLAKE3's own threads over a memory map
MMAP_THRESHOLD = 8 << 20
_CHUNK = 1 << 20


def _blake3() -> Any:
    """The `blake3.blake3` hasher, imported at the first hash: a run that stores nothing never
    loads the extension (a few ms of every first `init`)."""
    import blake3

    return blake3.blake3


def hash_bytes(data: bytes) -> str:
    """The hex BLAKE3 digest of `data`."""
    return str(_blake3()(data).hexdigest())


def hash_file(path: str | os.PathLike[str], size: int | None = None) -> str:
    """The hex BLAKE3 digest of the file at `path`."""
    if size is None:
        size = os.stat(path).st_size
    if size >= MMAP_THRESHOLD:
        threaded = _blake3()
        return str(threaded(max_threads=threaded.AUTO).update_mmap(path).hexdigest())
    hasher = _blake3()()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return str(hasher.hexdigest())


def hash_files(paths: Sequence[str], sizes: Sequence[int]) -> list[str]:
    """Digests of many files: small ones spread over a thread pool, large ones one at a time."""
    small = [i for i, s in enumerate(sizes) if s < MMAP_THRESHOLD]
    digests: list[str] = [""] * len(paths)
    if len(small) > 4:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
            for i, d in zip(
                small, pool.map(lambda i: hash_file(paths[i], sizes[i]), small), strict=True
            ):
                digests[i] = d
    else:
        for i in small:
            digests[i] = hash_file(paths[i], sizes[i])
    for i, s in enumerate(sizes):
        if s >= MMAP_THRESHOLD:
            digests[i] = hash_file(paths[i], s)
    return digests


def digest_lines(header: str, lines: Iterable[str]) -> str:
    """The digest of a header line followed by `lines`, each ending in a newline."""
    hasher = _blake3()((header + "\n").encode())
    for line in lines:
        hasher.update((line + "\n").encode())
    return str(hasher.hexdigest())
