"""The rest of every port method, on every adapter: run writes, projects, lineage edges,
registry upkeep, the objects gc must keep, and downloads."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_backend import manifest, rec

from stepline.backends.base import Backend
from stepline.errors import (
    ArtifactNotFound,
    NotFound,
    ProjectNotFound,
    StoreError,
    VersionNotFound,
)
from stepline.store.manifest import Entry, Manifest


def test_run_writes(backend: Backend) -> None:
    backend.create_run(rec("u1", project="p", group="g1"))
    backend.update_run("u1", group="g2", notes="hello", tags=["a"])
    got = backend.get_run("u1")
    assert (got.group, got.notes, got.tags) == ("g2", "hello", ["a"])
    assert backend.merge_run("u1", "config", {"lr": 0.1}) == {"lr": 0.1}
    assert backend.merge_run("u1", "config", {"depth": 3}) == {"lr": 0.1, "depth": 3}
    backend.heartbeat("u1")
    assert (backend.get_run("u1").heartbeat_at or 0) >= got.created_at
    assert backend.end_run("u1", "finished", exit_code=0, ended_at=time.time()) == "finished"
    done = backend.get_run("u1")
    assert (done.state, done.exit_code) == ("finished", 0)


def test_a_run_that_lost_points_ends_failed(backend: Backend) -> None:
    backend.create_run(rec("l1"))
    state = backend.end_run("l1", "finished", 0, time.time(), info={"lost_points": 3})
    assert state == "failed" and backend.get_run("l1").info["lost_points"] == 3
    backend.create_run(rec("l2"))
    assert backend.end_run("l2", None, info={"note": "x"}) is None  # merge only
    assert (backend.get_run("l2").state, backend.get_run("l2").info) == ("running", {"note": "x"})


def test_move_run_and_projects(backend: Backend) -> None:
    backend.create_run(rec("m1", project="a"))
    backend.create_run(rec("m2", project="b"))
    name = backend.move_run("m1", "b", renumber=True)
    assert name.endswith("-2") and backend.get_run("m1").project == "b"
    assert backend.move_run("m2", "c") == backend.get_run("m2").name
    backend.commit_version("d", "x", "t", manifest("x"), None, {}, [], None)
    assert backend.project_names() == ["a", "b", "c", "d"]


def test_get_run_by_name_prefers_the_project_and_the_newest(backend: Backend) -> None:
    backend.create_run(rec("n1", project="p"))
    backend.update_run("n1", name="same")
    backend.create_run(rec("n2", project="q"))
    backend.update_run("n2", name="same")
    assert backend.get_run("same", "p").id == "n1"
    assert backend.get_run("same").id == "n2"


def test_history_of_a_run_without_rows(backend: Backend) -> None:
    backend.create_run(rec("e1"))
    assert backend.history("e1") == [] and backend.last_step("e1") == -1


def test_objects_runs_refer_to(backend: Backend) -> None:
    backend.create_run(rec("o1"))
    backend.put_log("o1", "stderr", b"oops\n")
    media = backend.objects.put_bytes(b"png bytes")
    cell = {"_type": "image-file", "digest": media, "size": 9}
    backend.append_history("o1", 0, 0, json.dumps([[0, 1.0, {"img": cell}]]))
    summary = backend.objects.put_bytes(b"table bytes")
    backend.merge_run("o1", "summary", {"t": {"_type": "table-file", "digest": summary}})
    assert backend.objects.put_bytes(b"oops\n") in backend.log_oids()
    assert {media, summary} <= backend.media_oids()


def test_lineage_edges(backend: Backend) -> None:
    for run_id in ("maker", "again", "user"):
        backend.create_run(rec(run_id))
    v, _ = backend.commit_version("p", "a", "t", manifest("x"), None, {}, [], "maker")
    backend.record_output("again", v.id)
    backend.record_use("user", v.id)
    assert [r.id for r in backend.producers(v.id)] == ["maker", "again"]
    assert [x.id for x in backend.outputs("again")] == [v.id]
    assert [r.id for r in backend.consumers(v.id)] == ["user"]
    assert backend.inputs("maker") == [] and backend.outputs("user") == []


def test_versions_listed_and_iterated(backend: Backend) -> None:
    a0, _ = backend.commit_version("p", "a", "t", manifest("x"), "first", {"n": 1}, [], None)
    backend.commit_version("p", "a", "t", manifest("y"), None, {}, [], None)
    backend.commit_version("q", "b", "t", manifest("z"), None, {}, [], None)
    assert [v.version for v in backend.list_versions("p", "a")] == [0, 1]
    assert sorted(v.ref for v in backend.iter_versions()) == ["p/a:v0", "p/a:v1", "q/b:v0"]
    got = backend.resolve("p", "a", "v0")
    assert (got.description, got.metadata, got.manifest.digest()) == (
        "first",
        {"n": 1},
        a0.manifest.digest(),
    )
    assert [a.project for a in backend.list_artifacts()] == ["p", "q"]
    with pytest.raises(ProjectNotFound):
        backend.list_versions("nowhere", "a")
    with pytest.raises(ArtifactNotFound):
        backend.list_versions("p", "nothing")
    with pytest.raises(VersionNotFound, match="versions: v0 to v1"):
        backend.resolve("p", "a", "v7")
    with pytest.raises(VersionNotFound):
        backend.set_alias("p", "a", 9, "prod")


def test_materialize_writes_every_stored_file(backend: Backend, tmp_path: Path) -> None:
    a = backend.objects.put_bytes(b"alpha")
    b = backend.objects.put_bytes(b"beta")
    m = Manifest({"one.txt": Entry(a, 5), "sub/two.txt": Entry(b, 4)})
    backend.materialize(m, tmp_path / "out")
    assert (tmp_path / "out" / "one.txt").read_bytes() == b"alpha"
    assert (tmp_path / "out" / "sub" / "two.txt").read_bytes() == b"beta"
    absent = Manifest({"gone.txt": Entry("ab" * 32, 3)})
    with pytest.raises(StoreError):
        backend.materialize(absent, tmp_path / "out2")
    assert not (tmp_path / "out2" / "gone.txt").exists()


def test_registry_upkeep(backend: Backend) -> None:
    v0, _ = backend.commit_version("p", "m", "model", manifest("x"), None, {}, [], None)
    v1, _ = backend.commit_version("p", "m", "model", manifest("y"), None, {}, [], None)
    backend.register_version("b-model", v1.id, "second", {"k": 1})
    backend.register_version("a-model", v0.id)
    assert [m.name for m in backend.list_models()] == ["a-model", "b-model"]
    assert backend.registered_version_ids() == {v0.id, v1.id}
    backend.update_model("b-model", description="the b one", tags={"team": "x"})
    b = backend.get_model("b-model")
    assert (b.description, b.tags, b.versions[0].tags) == ("the b one", {"team": "x"}, {"k": 1})
    backend.set_model_alias("b-model", 1, "prod")
    backend.remove_model_alias("b-model", "prod")
    assert backend.get_model("b-model").versions[0].aliases == []
    with pytest.raises(VersionNotFound):
        backend.remove_model_alias("b-model", "prod")
    with pytest.raises(VersionNotFound):
        backend.set_model_alias("b-model", 5, "prod")
    with pytest.raises(NotFound, match="registered: a-model, b-model"):
        backend.set_model_alias("c-model", 1, "prod")
