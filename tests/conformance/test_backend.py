"""The Backend port's conformance suite: the same tests on every adapter.

SQLite always; PostgreSQL when a server answers (see conftest: skipped with a printed reason otherwise).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepline.backends.base import RunQuery, RunRecord
from stepline.backends.local import LocalBackend
from stepline.errors import ArtifactNotFound, Conflict, NotFound, RunNotFound, VersionNotFound
from stepline.store.manifest import Entry, Manifest


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalBackend]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    b = LocalBackend(tmp_path / "store", url)
    assert b.dialect == request.param
    yield b
    b.close()


def rec(run_id: str, project: str = "p", **kw: object) -> RunRecord:
    return RunRecord(
        id=run_id,
        project=project,
        name="",
        group=kw.pop("group", None),  # type: ignore[arg-type]
        job_type=kw.pop("job_type", None),
        state="running",  # type: ignore[arg-type]
        created_at=time.time(),
        **kw,
    )  # type: ignore[arg-type]


def manifest(*contents: str) -> Manifest:
    return Manifest({f"f{i}": Entry(c * 8, len(c)) for i, c in enumerate(contents)})


def test_runs_are_named_from_the_project_counter(backend: LocalBackend) -> None:
    a = backend.create_run(rec("run00001"))
    b = backend.create_run(rec("run00002"))
    c = backend.create_run(rec("run00003", project="other"))
    assert a.name.endswith("-1") and b.name.endswith("-2") and c.name.endswith("-1")
    assert backend.get_run("run00002").name == b.name
    assert backend.get_run(b.name, "p").id == "run00002"
    with pytest.raises(RunNotFound, match="'nope'"):
        backend.get_run("nope")


def test_json_columns_merge_and_query(backend: LocalBackend) -> None:
    backend.create_run(rec("r1", config={"lr": 0.1, "m": {"depth": 5}}, job_type="train"))
    backend.create_run(rec("r2", config={"lr": 0.01, "m": {"depth": 9}}, job_type="train"))
    backend.create_run(rec("r3", config={"lr": 0.5}, job_type="eval", tags=["best"]))
    backend.merge_run("r1", "summary", {"mae": 3.0})
    backend.merge_run("r1", "summary", {"r2": 0.5})
    backend.merge_run("r2", "summary", {"mae": 1.0})
    backend.merge_run("r2", "info", {"cache_key": "k2"})
    backend.update_run("r2", state="finished", ended_at=time.time())
    assert backend.get_run("r1").summary == {"mae": 3.0, "r2": 0.5}

    def ids(**kw: object) -> list[str]:
        return [r.id for r in backend.find_runs(RunQuery(**kw))]  # type: ignore[arg-type]

    assert ids(project="p", filters={"job_type": "train"}, order=["summary.mae"]) == ["r2", "r1"]
    assert ids(filters={"config.m.depth": {"$gt": 6}}) == ["r2"]
    assert ids(filters={"config.lr": {"$in": [0.1, 0.5]}}, order=["config.lr"]) == ["r1", "r3"]
    assert ids(filters={"info.cache_key": "k2", "state": "finished"}) == ["r2"]
    assert ids(filters={"tags": "best"}) == ["r3"]
    assert ids(filters={"summary.mae": {"$exists": True}}, order=["-summary.mae"]) == ["r1", "r2"]
    assert ids(
        filters={"$or": [{"config.lr": 0.5}, {"summary.r2": {"$gte": 0.5}}]}, order=["created_at"]
    ) == ["r1", "r3"]
    assert ids(filters={"job_type": {"$regex": "^ev"}}) == ["r3"]


def test_history_and_logs(backend: LocalBackend) -> None:
    backend.create_run(rec("h1"))
    backend.append_history("h1", 0, 1, '[[0, 1.0, {"loss": 1.0}], [1, 2.0, {"loss": 0.5}]]')
    backend.append_history("h1", 2, 2, '[[2, 3.0, {"loss": 0.25}]]')
    assert [r["loss"] for r in backend.history("h1")] == [1.0, 0.5, 0.25]
    assert backend.last_step("h1") == 2
    backend.put_log("h1", "stdout", b"hello\n")
    backend.put_log("h1", "stdout", b"hello again\n")
    assert backend.get_log("h1", "stdout") == b"hello again\n"
    assert backend.get_log("h1", "stderr") is None


def test_versions_aliases_and_scope(backend: LocalBackend) -> None:
    backend.create_run(rec("w1", info={"execution": "e1"}))
    backend.create_run(rec("w2", info={"execution": "e2"}))
    v0, created = backend.commit_version(
        "p", "a", "t", manifest("x"), "d", {"k": 1}, ["reference"], "w1"
    )
    assert created and v0.version == 0 and v0.aliases == ["latest", "reference"]
    again, created = backend.commit_version("p", "a", "t", manifest("x"), None, {}, [], "w2")
    assert not created and again.id == v0.id
    v1, _ = backend.commit_version("p", "a", "t", manifest("y"), None, {}, [], "w2")
    assert v1.version == 1
    assert backend.resolve("p", "a", "latest").version == 1
    assert backend.resolve("p", "a", "latest", scope="e1").version == 0
    assert backend.resolve("p", "a", "reference").version == 0
    assert backend.resolve("p", "a", "v1").metadata == {}
    with pytest.raises(VersionNotFound, match=r"aliases: latest \(v1\), reference \(v0\)"):
        backend.resolve("p", "a", "prod")
    with pytest.raises(ArtifactNotFound, match="artifacts: a"):
        backend.resolve("p", "b", "latest")
    with pytest.raises(Conflict):
        backend.commit_version("p", "a", "other-type", manifest("z"), None, {}, [], None)
    backend.set_alias("p", "a", 1, "reference")
    assert backend.resolve("p", "a", "reference").version == 1
    backend.remove_alias("p", "a", "reference")
    with pytest.raises(VersionNotFound):
        backend.remove_alias("p", "a", "reference")
    (art,) = backend.list_artifacts("p")
    assert (art.name, art.version_count, art.latest) == ("a", 2, 1)


def test_usage_edges(backend: LocalBackend) -> None:
    backend.create_run(rec("prod1"))
    backend.create_run(rec("cons1"))
    v, _ = backend.commit_version("p", "a", "t", manifest("x"), None, {}, [], "prod1")
    backend.record_use("cons1", v.id)
    backend.record_use("cons1", v.id)  # idempotent
    assert [r.id for r in backend.consumers(v.id)] == ["cons1"]
    assert [x.id for x in backend.inputs("cons1")] == [v.id]
    assert [x.id for x in backend.outputs("prod1")] == [v.id]


def test_registry(backend: LocalBackend) -> None:
    v0, _ = backend.commit_version("p", "model", "model_export", manifest("x"), None, {}, [], None)
    v1, _ = backend.commit_version("p", "model", "model_export", manifest("y"), None, {}, [], None)
    assert backend.register_version("rf", v0.id) == 1
    assert backend.register_version("rf", v0.id) == 1  # same as newest: no new version
    assert backend.register_version("rf", v1.id) == 2
    backend.set_model_alias("rf", 1, "prod")
    backend.set_model_alias("rf", 2, "prod")
    m = backend.get_model("rf")
    assert [(v.version, v.artifact_ref, v.aliases) for v in m.versions] == [
        (1, "p/model:v0", []),
        (2, "p/model:v1", ["prod"]),
    ]
    with pytest.raises(NotFound, match="registered: rf"):
        backend.get_model("nope")


def test_concurrent_commits_never_share_a_number(backend: LocalBackend) -> None:
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(5):
                backend.commit_version("p", "c", "t", manifest(f"{i}-{j}"), None, {}, [], None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [v.version for v in backend.list_versions("p", "c")] == list(range(30))


def test_delete_version(backend: LocalBackend) -> None:
    v0, _ = backend.commit_version("p", "a", "t", manifest("x"), None, {}, ["old"], None)
    backend.commit_version("p", "a", "t", manifest("y"), None, {}, [], None)
    backend.delete_version(v0.id)
    assert [v.version for v in backend.list_versions("p", "a")] == [1]
