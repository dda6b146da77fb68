"""Work for the conformance suite's writers: threads call `commit_versions`, spawned processes
`commit_in_process` (importable in the child)."""

from __future__ import annotations

from collections.abc import Callable

from stepline.backends.base import Backend
from stepline.store.manifest import Entry, Manifest


def commit_versions(backend: Backend, me: int, count: int) -> list[tuple[str, int]]:
    """Commit `count` versions of artifact p/shared, every other one with content all writers
    share; returns (content, version number) for each."""
    out = []
    for j in range(count):
        content = f"shared-{j % 3}" if j % 2 else f"writer-{me}-{j}"
        m = Manifest({"f": Entry(content.encode().hex().ljust(64, "0")[:64], len(content))})
        record, _ = backend.commit_version("p", "shared", "t", m, None, {}, [], None)
        out.append((content, record.version))
    return out


def commit_in_process(opener: Callable[[], Backend], me: int, count: int) -> list[tuple[str, int]]:
    """`commit_versions` over a backend of this process's own."""
    backend = opener()
    try:
        return commit_versions(backend, me, count)
    finally:
        backend.close()
