"""The Backend port's conformance suite: runs, history, logs, versions, aliases, lineage, registry.

Every test runs on each adapter of `conftest.ADAPTERS`: SQLite twice (a store opened new,
everything through SQLAlchemy, and one opened again, where a run's own writes go through the
stdlib `sqlite3` of `metadata/sqlite_runs.py`), and PostgreSQL when a server answers (skipped
with a printed reason otherwise).
"""

from __future__ import annotations

import threading
import time

import pytest

from stepline.backends.base import Backend, RunQuery, RunRecord
from stepline.errors import ArtifactNotFound, Conflict, NotFound, RunNotFound, VersionNotFound
from stepline.store.manifest import Entry, Manifest


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


def test_runs_are_named_from_the_project_counter(backend: Backend) -> None:
    a = backend.create_run(rec("run00001"))
    b = backend.create_run(rec("run00002"))
    c = backend.create_run(rec("run00003", project="other"))
    assert a.name.endswith("-1") and b.name.endswith("-2") and c.name.endswith("-1")
    assert backend.get_run("run00002").name == b.name
    assert backend.get_run(b.name, "p").id == "run00002"
    with pytest.raises(RunNotFound, match="'nope'"):
        backend.get_run("nope")


def test_a_run_lives_beats_moves_and_ends(backend: Backend) -> None:
    backend.create_run(rec("life1", tags=["a"], git_dirty=True))
    assert backend.last_step("life1") == -1
    backend.update_run("life1", tags=["a", "b"], group="g", notes="n", git_dirty=False)
    got = backend.get_run("life1")
    assert (got.tags, got.group, got.notes, got.git_dirty) == (["a", "b"], "g", "n", False)
    assert backend.merge_run("life1", "config", {"lr": 0.1}) == {"lr": 0.1}
    assert backend.merge_run("life1", "config", {"m": {"d": 2}}) == {"lr": 0.1, "m": {"d": 2}}
    # a stale heartbeat is read as crashed; a beat brings the run back
    backend.update_run("life1", heartbeat_at=time.time() - 10_000)
    assert backend.get_run("life1").state == "crashed"
    backend.heartbeat("life1")
    assert backend.get_run("life1").state == "running"
    # moved to a new project, an automatic name counts there
    assert backend.move_run("life1", "elsewhere", renumber=True).endswith("-1")
    assert backend.get_run("life1").project == "elsewhere"
    # lost points turn `finished` into `failed`, with the counts kept in info
    final = backend.end_run("life1", "finished", 0, time.time(), {"lost_points": 3})
    got = backend.get_run("life1")
    assert (final, got.state, got.exit_code, got.info) == (
        "failed",
        "failed",
        0,
        {"lost_points": 3},
    )
    assert got.config == {"lr": 0.1, "m": {"d": 2}}


def test_execution_and_cache_key_live_in_columns_and_read_as_info(backend: Backend) -> None:
    backend.create_run(rec("col1", info={"execution": "e1", "cache_key": "k1", "x": 1}))
    assert backend.get_run("col1").info == {"execution": "e1", "cache_key": "k1", "x": 1}
    merged = backend.merge_run("col1", "info", {"cache_key": "k2", "y": 2})
    assert merged == {"execution": "e1", "cache_key": "k2", "x": 1, "y": 2}
    backend.end_run("col1", "finished", 0, time.time(), {"z": 3})
    got = backend.get_run("col1")
    assert got.info == {"execution": "e1", "cache_key": "k2", "x": 1, "y": 2, "z": 3}
    assert (got.execution_id, got.cache_key) == ("e1", "k2")
    found = backend.find_runs(RunQuery(filters={"info.cache_key": "k2"}))
    assert [r.id for r in found] == ["col1"]


def test_json_columns_merge_and_query(backend: Backend) -> None:
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


def test_history_and_logs(backend: Backend) -> None:
    backend.create_run(rec("h1"))
    backend.append_history("h1", 0, 1, '[[0, 1.0, {"loss": 1.0}], [1, 2.0, {"loss": 0.5}]]')
    backend.append_history("h1", 2, 2, '[[2, 3.0, {"loss": 0.25}]]')
    assert [r["loss"] for r in backend.history("h1")] == [1.0, 0.5, 0.25]
    assert backend.last_step("h1") == 2
    backend.put_log("h1", "stdout", b"hello\n")
    backend.put_log("h1", "stdout", b"hello again\n")
    assert backend.get_log("h1", "stdout") == b"hello again\n"
    assert backend.get_log("h1", "stderr") is None


def test_versions_aliases_and_scope(backend: Backend) -> None:
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


def test_content_equal_to_an_older_version_returns_it(backend: Backend) -> None:
    for run_id, execution in (("r1", "e1"), ("r2", "e2"), ("r3", "e3")):
        backend.create_run(rec(run_id, info={"execution": execution}))
    a, created_a = backend.commit_version("p", "m", "t", manifest("A"), None, {}, [], "r1")
    b, created_b = backend.commit_version("p", "m", "t", manifest("B"), None, {}, ["prod"], "r2")
    again, created = backend.commit_version("p", "m", "t", manifest("A"), None, {}, ["best"], "r3")
    assert (a.version, b.version, again.version) == (0, 1, 0)
    assert (created_a, created_b, created) == (True, True, False)
    assert again.aliases == ["latest", "best"]
    assert backend.resolve("p", "m", "latest").version == 0
    assert backend.resolve("p", "m", "prod").version == 1
    # execution scope: each execution's `latest` is what it logged
    assert [backend.resolve("p", "m", "latest", scope=e).version for e in ("e1", "e2", "e3")] == [
        0,
        1,
        0,
    ]
    assert [v.version for v in backend.outputs("r3")] == [0]
    # one run logging A, B, A: its execution's `latest` is A again
    backend.create_run(rec("r4", info={"execution": "e4"}))
    for content in ("A", "B", "A"):
        backend.commit_version("p", "m", "t", manifest(content), None, {}, [], "r4")
        time.sleep(0.01)
    assert backend.resolve("p", "m", "latest", scope="e4").version == 0


def test_usage_edges(backend: Backend) -> None:
    backend.create_run(rec("prod1"))
    backend.create_run(rec("cons1"))
    v, _ = backend.commit_version("p", "a", "t", manifest("x"), None, {}, [], "prod1")
    backend.record_use("cons1", v.id)
    backend.record_use("cons1", v.id)  # idempotent
    assert [r.id for r in backend.consumers(v.id)] == ["cons1"]
    assert [x.id for x in backend.inputs("cons1")] == [v.id]
    assert [x.id for x in backend.outputs("prod1")] == [v.id]


def test_registry(backend: Backend) -> None:
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


def test_concurrent_commits_never_share_a_number(backend: Backend) -> None:
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


def test_delete_version(backend: Backend) -> None:
    v0, _ = backend.commit_version("p", "a", "t", manifest("x"), None, {}, ["old"], None)
    backend.commit_version("p", "a", "t", manifest("y"), None, {}, [], None)
    backend.delete_version(v0.id)
    assert [v.version for v in backend.list_versions("p", "a")] == [1]


def test_keys_no_run_has_and_unknown_states_are_errors(backend: Backend) -> None:
    from stepline.errors import UsageError

    backend.create_run(rec("r1", config={"lr": 0.1, "m": {"depth": 5}}))
    backend.merge_run("r1", "summary", {"mae": 3.0, "none_yet": None})

    def ids(**kw: object) -> list[str]:
        return [r.id for r in backend.find_runs(RunQuery(**kw))]  # type: ignore[arg-type]

    assert ids(project="p", order=["-config.m.depth", "summary.none_yet"]) == ["r1"]
    with pytest.raises(UsageError, match=r"'config\.m\.dpth'.*config keys: config\.lr, config\.m"):
        ids(project="p", filters={"config.m.dpth": 5})
    with pytest.raises(UsageError, match=r"'summary\.maee'; did you mean 'summary\.mae'"):
        ids(order=["summary.maee"])
    with pytest.raises(UsageError, match="states: running, finished"):
        ids(filters={"state": {"$ne": "done"}})
