"""The stdlib run writer (`metadata/sqlite_runs.py`) and SQLAlchemy's agree on every stored byte,
and a short run in a new process never imports SQLAlchemy.

The port's behaviour on both writers is in tests/conformance (the `sqlite-stdlib` adapter).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import stepline
from stepline.backends.base import RunRecord
from stepline.backends.local import LocalBackend
from stepline.metadata import schema
from stepline.metadata.sqlite_runs import RUN_COLUMNS, SqliteRuns


def record(run_id: str) -> RunRecord:
    return RunRecord(
        id=run_id,
        project="p",
        name="named",
        group="g",
        job_type="train",
        state="running",
        config={"lr": 0.1, "layers": [64, 32], "name": "é ✓", "nested": {"a": None}},
        tags=["x", "y"],
        notes="note",
        host="h",
        pid=1,
        command="python train.py",
        git_commit="abc",
        git_dirty=True,
        python_version="3.11.7",
        created_at=1_700_000_000.25,
    )


def raw_row(db: Path, run_id: str) -> tuple[object, ...]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,))
        return tuple(row.fetchone())[1:]  # without the id


def test_the_columns_are_the_schemas() -> None:
    assert tuple(c.name for c in schema.runs.c) == RUN_COLUMNS


def test_both_writers_store_the_same_bytes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    sql = LocalBackend(root)  # a new store: SQLAlchemy creates the schema and writes
    assert sql._fast is None
    sql.create_run(record("by-sqlalchemy"))
    sql.merge_run("by-sqlalchemy", "summary", {"loss": 0.5, "best": [1, 2]})
    sql.update_run("by-sqlalchemy", tags=["z"], git_dirty=False)
    sql.end_run("by-sqlalchemy", "finished", 0, 1_700_000_100.5, {"lost_points": 0})
    sql.close()

    lite = SqliteRuns.open(root / "stepline.db")
    assert lite is not None
    lite.create_run(record("by-sqlite3"))
    lite.merge_run("by-sqlite3", "summary", {"loss": 0.5, "best": [1, 2]})
    lite.update_run("by-sqlite3", tags=["z"], git_dirty=False)
    lite.end_run("by-sqlite3", "finished", 0, 1_700_000_100.5, {"lost_points": 0})
    lite.close()

    ours, theirs = (
        raw_row(root / "stepline.db", "by-sqlite3"),
        raw_row(root / "stepline.db", "by-sqlalchemy"),
    )
    heartbeat = RUN_COLUMNS.index("heartbeat_at") - 1
    assert ours[:heartbeat] + ours[heartbeat + 1 :] == theirs[:heartbeat] + theirs[heartbeat + 1 :]
    reread = LocalBackend(root)
    assert reread.sql.runs.get_run("by-sqlite3").config == record("x").config  # read by SQLAlchemy
    reread.close()


def test_a_schema_of_another_version_goes_to_sqlalchemy(tmp_path: Path) -> None:
    root = tmp_path / "store"
    LocalBackend(root).close()
    with sqlite3.connect(root / "stepline.db") as conn:
        conn.execute("UPDATE schema_info SET version = 1")
    assert SqliteRuns.open(root / "stepline.db") is None
    backend = LocalBackend(root)  # SQLAlchemy migrates it back to the current version
    assert backend._fast is None
    backend.close()
    assert SqliteRuns.open(root / "stepline.db") is not None


SCRIPT = """
    import sys, stepline
    run = stepline.init(project="p", config={"lr": 0.1})
    for i in range(100):
        run.log({"loss": 1 / (i + 1)})
    run.summary["best"] = 0.01
    run.finish()
    print(run.id, "sqlalchemy" in sys.modules)
"""


def run_script(code: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=True,
    )
    return done.stdout.split()


def test_a_short_run_in_a_new_process_does_not_import_sqlalchemy(store: Path) -> None:
    stepline.init(project="p").finish()  # the store and its schema exist
    run_id, imported = run_script(SCRIPT, {})
    assert imported == "False"
    stored = stepline.Api().run(run_id)
    assert stored.state == "finished"
    assert [row["loss"] for row in stored.history()] == [1 / (i + 1) for i in range(100)]
    assert stored.summary["best"] == 0.01 and stored.summary["loss"] == 0.01
    assert stored.config == {"lr": 0.1}


def test_a_step_attaching_to_its_runners_run_does_not_import_sqlalchemy(store: Path) -> None:
    runner = stepline.init(project="p", job_type="step")
    code = """
        import sys, stepline
        run = stepline.init(project="moved")
        run.log({"rows": 10})
        run.finish()
        print(run.id, "sqlalchemy" in sys.modules)
    """
    run_id, imported = run_script(code, runner.child_env())
    assert (run_id, imported) == (runner.id, "False")
    runner.finish()
    stored = stepline.Api().run(runner.id)
    assert (stored.project, stored.state) == ("moved", "finished")
    assert [row["rows"] for row in stored.history()] == [10]
    assert stored.info["python"] == sys.executable
    assert time.time() - stored.heartbeat_at < 60


def test_attaching_a_log_does_not_import_sqlalchemy(store: Path) -> None:
    """A component's runner attaches the step's stdout and stderr when it ends; on SQLite that
    write takes the plain path too, and a second attach replaces the first."""
    code = """
        import sys, stepline
        run = stepline.init(project="p")
        run.attach_log("stdout", b"first\\n")
        run.attach_log("stdout", b"made 3 rows\\n")
        run.finish()
        print(run.id, "sqlalchemy" in sys.modules)
    """
    stepline.init(project="p").finish()  # the store and its schema exist
    run_id, imported = run_script(code, {})
    assert imported == "False"
    assert LocalBackend(store).get_log(run_id, "stdout") == b"made 3 rows\n"
