"""16 processes × 50 `log_artifact` on one artifact name, on SQLite and on PostgreSQL.

Half of the logs repeat one of a few shared contents, half are new. Afterwards the versions are
numbered 0..n-1 with none duplicated, every version holds the content its writer logged, the same
content never has two versions, and `fsck` finds nothing wrong.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from _forking import Forker, wait_for

import stepline
from stepline import backends
from stepline.backends.fsck import fsck

WRITERS = 16
LOGS = 50


def dedups_against_any_version(tmp_path: Path) -> bool:
    """Does logging content equal to an *earlier* (not latest) version reuse that version?"""
    f = tmp_path / "probe.txt"
    with stepline.init(project="probe") as run:
        for text in ("a", "b", "a"):
            f.write_text(text)
            art = stepline.Artifact("probe", "data")
            art.add_file(str(f))
            run.log_artifact(art)
    return art.version == "v0"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgresql":
        monkeypatch.setenv("STEPLINE_DATABASE_URL", request.getfixturevalue("pg_url"))
    backends.reset()
    return request.param


def test_sixteen_writers_fifty_versions_each(database: str, forker: Forker, tmp_path: Path) -> None:
    backend = backends.get_backend()
    assert backend.dialect == database
    results = [tmp_path / "out" / f"w{i}.json" for i in range(WRITERS)]
    results[0].parent.mkdir()
    for i, result in enumerate(results):
        ready = tmp_path / f"ready{i}"
        forker.fork("versions", ready=str(ready), result=str(result), me=i, count=LOGS, seed=i)
    for result in results:
        error = result.with_suffix(".error")
        wait_for(result, timeout=600, failed=error)

    versions = backend.list_versions("p", "shared")
    numbers = [v.version for v in versions]
    assert numbers == list(range(len(numbers))), "version numbers lost or duplicated"
    by_number = {v.version: v for v in versions}

    contents_of: dict[int, set[str]] = defaultdict(set)  # version -> content keys logged as it
    versions_of: dict[str, set[int]] = defaultdict(set)  # content key -> versions it got
    for result in results:
        for key, number, digest in json.loads(result.read_text()):
            assert by_number[number].digest == digest, f"v{number} does not hold what was logged"
            contents_of[number].add(key)
            versions_of[key].add(number)
    assert set(contents_of) == set(by_number), "a version nobody logged"
    assert all(len(keys) == 1 for keys in contents_of.values()), "one version, two contents"
    for v in versions:  # the stored bytes are the logged ones
        (entry,) = v.manifest.entries.values()
        key = next(iter(contents_of[v.version]))
        assert backend.objects.get_bytes(entry.digest).startswith(
            b"shared content" if key.startswith("shared") else b"writer"
        )
    if dedups_against_any_version(tmp_path):
        # each distinct content has exactly one version
        assert all(len(numbers) == 1 for numbers in versions_of.values()), {
            k: sorted(n) for k, n in versions_of.items() if len(n) > 1
        }
        assert len(versions) == len(versions_of)
    else:  # the store only compares with `latest`: equal content is never logged twice in a row
        print("\nthis store reuses only `latest` for equal content; checked consecutive versions")
        assert all(versions[i].digest != versions[i - 1].digest for i in range(1, len(versions)))
    report = fsck(backend)
    assert report.clean, (report.corrupt, report.missing)
    assert all(r.state == "finished" for r in stepline.Api().runs("p"))
