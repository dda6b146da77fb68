"""Concurrent writers on every adapter: threads and processes committing versions of one artifact
never lose or duplicate a version number, and equal content never gets two versions."""

from __future__ import annotations

import multiprocessing
import threading
from collections import defaultdict

from _writers import commit_in_process, commit_versions
from conftest import Opener

from stepline.backends.base import Backend

PROCESSES = 4
THREADS = 4
COUNT = 8


def _check(backend: Backend, results: list[list[tuple[str, int]]]) -> None:
    numbers = [v.version for v in backend.list_versions("p", "shared")]
    assert numbers == list(range(len(numbers))), "version numbers lost or duplicated"
    versions_of: dict[str, set[int]] = defaultdict(set)
    contents_of: dict[int, set[str]] = defaultdict(set)
    for result in results:
        for content, number in result:
            versions_of[content].add(number)
            contents_of[number].add(content)
    assert set(contents_of) == set(numbers), "a version nobody committed"
    assert all(len(v) == 1 for v in versions_of.values()), "one content, two versions"
    assert all(len(c) == 1 for c in contents_of.values()), "one version, two contents"


def test_processes_committing_one_artifact(opener: Opener, backend: Backend) -> None:
    # `backend` made the store and its schema before the writers start
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(commit_in_process, [(opener, i, COUNT) for i in range(PROCESSES)])
    _check(backend, results)


def test_threads_sharing_one_backend(backend: Backend) -> None:
    results: list[list[tuple[str, int]]] = []
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            results.append(commit_versions(backend, i, COUNT))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    _check(backend, results)
