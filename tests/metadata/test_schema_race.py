"""Many processes opening one fresh database at once: the schema is created once, nobody crashes.

Real processes, a real PostgreSQL database created for the test (dropped after) and a real SQLite
file. The processes import everything first and then wait on a start file, so they race for real.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

OPENER = """
    import fcntl, sys
    from stepline.metadata.engine import SCHEMA_VERSION, create_engine
    import sqlalchemy as sa
    if sys.argv[1].startswith("postgresql"):  # load the driver before the gate: race on the DDL
        import psycopg, sqlalchemy.dialects.postgresql.psycopg
    gate = open(sys.argv[2])
    print("ready", flush=True)
    fcntl.flock(gate, fcntl.LOCK_SH)  # the parent holds LOCK_EX until every process is ready
    engine = create_engine(sys.argv[1])
    with engine.connect() as conn:
        version = conn.execute(sa.text("select version from schema_info")).scalar_one()
    assert version == SCHEMA_VERSION, version
    engine.dispose()
"""


def open_at_once(url: str, count: int, tmp_path: Path) -> list[tuple[int, str]]:
    go = tmp_path / "gate"
    go.touch()
    with open(go) as gate:
        fcntl.flock(gate, fcntl.LOCK_EX)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(OPENER), url, str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        fcntl.flock(gate, fcntl.LOCK_UN)  # all of them start at once
    results = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        errors = [line for line in err.splitlines() if "Error" in line]
        results.append((p.returncode, errors[-1] if errors else err.strip()[-300:]))
    return results


def check_schema(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from schema_info")).scalar_one() == 1
    engine.dispose()


def test_32_processes_create_a_fresh_postgresql_schema_at_once(pg_url: str, tmp_path: Path) -> None:
    started = time.time()
    results = open_at_once(pg_url, 32, tmp_path)
    crashed = [err for rc, err in results if rc != 0]
    assert not crashed, (
        f"{len(crashed)} of 32 crashed after {time.time() - started:.1f}s: {crashed[:3]}"
    )
    check_schema(pg_url)


def test_16_processes_create_a_fresh_sqlite_schema_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'stepline.db'}"
    results = open_at_once(url, 16, tmp_path)
    crashed = [err for rc, err in results if rc != 0]
    assert not crashed, f"{len(crashed)} of 16 crashed: {crashed[:3]}"
    check_schema(url)


def test_an_existing_schema_is_left_as_it_is(pg_url: str, tmp_path: Path) -> None:
    assert open_at_once(pg_url, 1, tmp_path)[0][0] == 0
    assert all(rc == 0 for rc, _ in open_at_once(pg_url, 2, tmp_path))
    check_schema(pg_url)
