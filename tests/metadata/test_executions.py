"""Pipeline facts in typed columns: the executions table, runs.execution_id and runs.cache_key.

Every test runs on SQLite and on PostgreSQL (skipped with a printed reason when no server
answers), including the upgrade of a schema v2 store, whose pipeline facts were `info` keys.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from stepline.backends.base import ExecutionRecord, RunQuery, RunRecord
from stepline.backends.local import LocalBackend
from stepline.errors import NotFound, UsageError
from stepline.metadata.engine import SCHEMA_VERSION
from stepline.store.manifest import Entry, Manifest


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'store' / 'stepline.db'}"


@pytest.fixture
def backend(url: str, tmp_path: Path) -> Iterator[LocalBackend]:
    b = LocalBackend(tmp_path / "store", url)
    yield b
    b.close()


def rec(run_id: str, project: str = "p", **kw: object) -> RunRecord:
    return RunRecord(
        id=run_id,
        project=project,
        name="",
        group=kw.pop("group", None),  # type: ignore[arg-type]
        job_type=kw.pop("job_type", None),  # type: ignore[arg-type]
        state="running",
        created_at=kw.pop("created_at", time.time()),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def manifest(text: str) -> Manifest:
    return Manifest({"f": Entry(text * 8, len(text))})


def raw_run(b: LocalBackend, run_id: str) -> dict[str, object]:
    with b.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT info, execution_id, cache_key FROM runs WHERE id = :i"), {"i": run_id}
        ).one()
    info = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return {"info": info, "execution_id": row[1], "cache_key": row[2]}


def test_executions_are_created_once_updated_and_listed_newest_first(
    backend: LocalBackend,
) -> None:
    first = backend.create_execution(
        ExecutionRecord(id="e1", project="p", pipeline="etl", group="g", parameters={"a": 1})
    )
    assert first.state == "running" and first.started_at > 0 and first.parameters == {"a": 1}
    # a second process of the same execution finds it made
    again = backend.create_execution(ExecutionRecord(id="e1", project="p", pipeline="other"))
    assert again.pipeline == "etl" and again.started_at == first.started_at
    backend.create_execution(ExecutionRecord(id="e2", project="p", pipeline="etl"))
    backend.create_execution(ExecutionRecord(id="e3", project="q", pipeline="train"))
    backend.update_execution("e1", state="finished", ended_at=123.0)
    got = backend.get_execution("e1")
    assert (got.state, got.ended_at, got.group, got.project) == ("finished", 123.0, "g", "p")
    assert [e.id for e in backend.find_executions(project="p")] == ["e2", "e1"]
    assert [e.id for e in backend.find_executions(pipeline="train")] == ["e3"]
    assert [e.id for e in backend.find_executions(state="running")] == ["e3", "e2"]
    assert len(backend.find_executions(limit=1)) == 1
    with pytest.raises(NotFound, match="no execution 'nope'"):
        backend.get_execution("nope")
    with pytest.raises(NotFound, match="no execution 'nope'"):
        backend.update_execution("nope", state="failed")
    with pytest.raises(UsageError, match="no execution state 'done'"):
        backend.update_execution("e1", state="done")


def test_execution_and_cache_key_live_in_columns_and_read_back_as_info(
    backend: LocalBackend,
) -> None:
    backend.create_run(rec("r1", info={"execution": "e1", "cache_key": "k1", "step": "etl"}))
    backend.create_run(rec("r2", info={"step": "etl"}))
    assert raw_run(backend, "r1") == {
        "info": {"step": "etl"},
        "execution_id": "e1",
        "cache_key": "k1",
    }
    r1 = backend.get_run("r1")
    assert r1.info == {"step": "etl", "execution": "e1", "cache_key": "k1"}
    assert (r1.execution_id, r1.cache_key) == ("e1", "k1")
    merged = backend.merge_run("r2", "info", {"execution": "e2", "cache_key": "k2", "x": 1})
    assert merged == {"step": "etl", "x": 1, "execution": "e2", "cache_key": "k2"}
    assert raw_run(backend, "r2")["info"] == {"step": "etl", "x": 1}
    backend.end_run("r2", "finished", 0, time.time(), info={"cache_key": "k3"})
    assert raw_run(backend, "r2")["cache_key"] == "k3"

    def ids(filters: dict[str, object]) -> list[str]:
        return [r.id for r in backend.find_runs(RunQuery(filters=filters, order=["id"]))]

    # the filters users and the pipeline wrote before keep working, now over the columns
    assert ids({"info.execution": "e1"}) == ["r1"]
    assert ids({"info.cache_key": "k3", "state": "finished"}) == ["r2"]
    assert ids({"execution_id": {"$in": ["e1", "e2"]}}) == ["r1", "r2"]
    assert ids({"info.execution": {"$exists": True}}) == ["r1", "r2"]
    assert [r.id for r in backend.execution_runs("e2")] == ["r2"]


def test_the_cache_key_and_execution_are_indexed(backend: LocalBackend) -> None:
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(backend.engine).get_indexes("runs")}
    assert indexes["ix_runs_cache_key"] == ["cache_key"]
    assert indexes["ix_runs_execution"] == ["execution_id"]
    if backend.dialect == "sqlite":
        with backend.engine.connect() as conn:
            plan = conn.execute(
                sa.text("EXPLAIN QUERY PLAN SELECT id FROM runs WHERE cache_key = 'k'")
            ).all()
        assert "ix_runs_cache_key" in str(plan)


def test_find_cached_wants_a_finished_run_with_every_output_edge(backend: LocalBackend) -> None:
    now = time.time()
    backend.create_run(rec("old", info={"cache_key": "k"}, created_at=now - 30))
    backend.create_run(rec("new", info={"cache_key": "k"}, created_at=now - 20))
    backend.create_run(rec("failed", info={"cache_key": "k"}, created_at=now - 10))
    backend.create_run(rec("other", project="q", info={"cache_key": "k"}, created_at=now))
    backend.commit_version("p", "clean", "data", manifest("a"), None, {}, [], "old")
    backend.commit_version("p", "model", "model", manifest("b"), None, {}, [], "old")
    # the same content again: no new version, but an output edge from "new" to it
    backend.commit_version("p", "clean", "data", manifest("a"), None, {}, [], "new")
    for run_id in ("old", "new", "other"):
        backend.end_run(run_id, "finished", 0, time.time())
    backend.end_run("failed", "failed", 1, time.time())

    hit = backend.find_cached("p", "k", ["clean"])
    assert hit is not None and hit[0].id == "new"
    assert [(v.name, v.version, v.run_id) for v in hit[1]] == [("clean", 0, "old")]
    hit = backend.find_cached("p", "k", ["clean", "model"])
    assert hit is not None and hit[0].id == "old"
    assert backend.find_cached("p", "k", ["missing"]) is None
    assert backend.find_cached("p", "nokey", None) is None
    hit = backend.find_cached(None, "k", None)
    assert hit is not None and hit[0].id == "other"


def test_latest_in_an_execution_scope_follows_its_runs_output_edges(
    backend: LocalBackend,
) -> None:
    backend.create_run(rec("a", info={"execution": "e1"}))
    backend.create_run(rec("b", info={"execution": "e2"}))
    backend.commit_version("p", "clean", "data", manifest("a"), None, {}, [], "a")
    backend.commit_version("p", "clean", "data", manifest("b"), None, {}, [], "b")
    assert backend.resolve("p", "clean", "latest").version == 1
    assert backend.resolve("p", "clean", "latest", scope="e1").version == 0
    assert backend.resolve("p", "clean", "latest", scope="e9").version == 1


def _rewind_to_v2(engine: sa.Engine) -> None:
    """Make a store look as schema v2 left it: pipeline facts as info keys, no executions."""
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT id, info, execution_id, cache_key FROM runs")).all()
        for run_id, info, execution, key in rows:
            doc = info if isinstance(info, dict) else json.loads(info)
            if execution is not None:
                doc["execution"] = execution
            if key is not None:
                doc["cache_key"] = key
            conn.execute(
                sa.text("UPDATE runs SET info = :info WHERE id = :i"),
                {"info": json.dumps(doc), "i": run_id},
            )
        conn.execute(sa.text("DROP TABLE executions"))
        conn.execute(sa.text("DROP INDEX ix_runs_execution"))
        conn.execute(sa.text("DROP INDEX ix_runs_cache_key"))
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN execution_id"))
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN cache_key"))
        conn.execute(sa.text("UPDATE schema_info SET version = 2"))


def test_a_v2_store_moves_its_pipeline_info_keys_into_columns(url: str, tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "store", url)
    b.create_run(rec("step1", job_type="etl", info={"step": "etl"}))
    b.create_run(rec("pipe1", job_type="pipeline", group="g", config={"lr": 1}))
    b.create_run(rec("plain", info={"note": "no pipeline"}))
    b.merge_run("step1", "info", {"execution": "e1", "cache_key": "k1"})
    b.merge_run("pipe1", "info", {"execution": "e1", "pipeline": "etl", "status": "cancelled"})
    b.end_run("step1", "finished", 0, time.time())
    b.end_run("pipe1", "failed", 1, time.time())
    b.close()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    _rewind_to_v2(engine)
    with engine.connect() as conn:
        assert "execution_id" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    engine.dispose()

    b = LocalBackend(tmp_path / "store", url)
    try:
        with b.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version FROM schema_info")).scalar()
        assert version == SCHEMA_VERSION >= 3
        assert raw_run(b, "step1") == {
            "info": {"step": "etl"},
            "execution_id": "e1",
            "cache_key": "k1",
        }
        assert b.get_run("step1").info == {"step": "etl", "execution": "e1", "cache_key": "k1"}
        assert raw_run(b, "plain") == {
            "info": {"note": "no pipeline"},
            "execution_id": None,
            "cache_key": None,
        }
        execution = b.get_execution("e1")
        assert (execution.pipeline, execution.project, execution.group) == ("etl", "p", "g")
        assert execution.state == "cancelled" and execution.ended_at is not None
        assert execution.parameters == {"lr": 1}
        assert [r.id for r in b.execution_runs("e1")] == ["step1", "pipe1"]
        hit = b.find_cached("p", "k1", None)
        assert hit is not None and hit[0].id == "step1"
    finally:
        b.close()
