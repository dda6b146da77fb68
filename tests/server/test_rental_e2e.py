"""The rental-price example end to end against a team server on PostgreSQL + S3 with auth on:
`stepline run examples/rental_prices` with only STEPLINE_TRACKING_URI and a write token set.

Component environments are real (uv-built, a cold cache per session); nothing is stored locally.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.server.conftest import Server

from stepline.backends.base import RunQuery
from stepline.backends.http import HttpBackend

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "rental_prices"
CLI = "import sys; from stepline.cli import main; main(sys.argv[1:])"


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip


def test_rental_prices_against_the_server(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    servers: Callable[..., Server],
    pg_database: str,
    seaweed: dict[str, str],
) -> None:
    srv = servers(pg_database, f"s3://stepline/{uuid.uuid4().hex[:8]}", env=seaweed)
    project = yaml.safe_load((EXAMPLE / "pipeline.yaml").read_text())["project"]
    user = f"ci{uuid.uuid4().hex[:6]}"
    out = srv.cli("users", "add", user, "--project", f"{project}=write", "--password-stdin",
                  "--database", pg_database, stdin="pw\n")  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = srv.cli("tokens", "create", "--user", user, "--project", project, "--role", "write",
                  "--database", pg_database)  # fmt: skip
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().rsplit(" ", 1)[1]

    sample = tmp_path / "small1.csv"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "data" / "generate.py"), "--variant", "1", "--rows", "3000",
         "--out", str(sample)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPLINE_", "WANDB_", "AWS_"))}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        STEPLINE_TRACKING_URI=srv.url,
        STEPLINE_TOKEN=token,
        STEPLINE_CACHE_DIR=str(tmp_path_factory.mktemp("rental-env-cache")),
        STEPLINE_ARTIFACT_DIR=str(tmp_path / "artifacts"),
        MPLBACKEND="Agg",
    )
    work = tmp_path / "work"
    work.mkdir()
    args = ["run", str(EXAMPLE), f"etl.sample={sample}", "data_check.min_rows=1000",
            "modeling.random_forest.n_estimators=30"]  # fmt: skip
    first = _run(work, env, *args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert not (work / ".stepline").exists()  # everything went to the server

    client = HttpBackend(srv.url, token=token, cache=tmp_path / "reader")
    export = client.resolve(project, "random_forest_export", "prod")
    assert export.type == "model_export" and "MLmodel" in export.manifest.entries
    tested = [r for r in client.find_runs(RunQuery(project=project)) if "r2" in r.summary]
    assert tested and max(r.summary["r2"] for r in tested) > 0.3
    assert client.producers(export.id) and client.consumers(export.id)

    again = _run(work, env, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cached" in again.stdout
    sent = client.objects.missing(e.digest for e in export.manifest.entries.values())
    assert sent == set()  # every object of the export is on the server
    client.close()
