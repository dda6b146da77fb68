"""Course-style roots on Ray: `stepline run ROOT --executor ray`, on the two-node cluster.

The root is tests/fixtures/pipelines/course (a Hydra main.py calling `mlflow.run` per step),
its env built by uv, launched by the real CLI in a subprocess that joins the module's cluster
as its driver. Each `mlflow.run` that must run is a Ray task; the results must be those of the
local executor: the same data digests, and cache hits on the next run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import stepline
from stepline import backends

pytestmark = pytest.mark.ray

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pipelines" / "course"
SRC = Path(__file__).parents[2] / "src"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "course"
    shutil.copytree(FIXTURE, dest)
    for var in ("STEPLINE_SCOPE", "STEPLINE_RUN_ID", "STEPLINE_PROJECT", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    return dest


def launch(root: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEPLINE_DIR": str(store)}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "stepline.cli.pipeline", "run", ".", "--json", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def steps_of(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    body = json.loads(proc.stdout[proc.stdout.index("{") :])
    return {s["step"]: s for s in body["steps"]}


def open_store(monkeypatch: pytest.MonkeyPatch, store: Path) -> stepline.Api:
    monkeypatch.setenv("STEPLINE_DIR", str(store))
    backends.reset()
    return stepline.Api()


def outputs(api: stepline.Api, runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each logged artifact's name -> digest, over the given step runs."""
    out = {}
    for step in runs.values():
        for art in api.run(step["run"]).logged_artifacts():
            out[art.name] = art.digest
    return out


def test_a_course_root_on_ray_matches_the_local_executor_and_caches(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: Any
) -> None:
    address = ray_cluster.get_runtime_context().gcs_address
    local = steps_of(launch(root, tmp_path / "local-store"))
    assert {s: r["state"] for s, r in local.items()} == {"make": "finished", "double": "finished"}
    api = open_store(monkeypatch, tmp_path / "local-store")
    local_digests = outputs(api, local)
    assert set(local_digests) == {"a.txt", "b.txt"}

    ray_store = tmp_path / "ray-store"
    first = steps_of(launch(root, ray_store, "--executor", "ray", "--address", address))
    assert {s: r["state"] for s, r in first.items()} == {"make": "finished", "double": "finished"}
    api = open_store(monkeypatch, ray_store)
    assert outputs(api, first) == local_digests
    for step in first.values():
        run = api.run(step["run"])
        assert run.info["executor"]["name"] == "ray" and run.info["executor"]["node_id"]
        assert (run.project, run.group) == ("course_demo", "development")  # set by main.py
        assert run.job_type == step["step"]  # as the component's init() says, as locally
    double = api.run(first["double"]["run"])
    assert double.summary["b"] == 6.0
    # execution-scoped latest: double read the a.txt this launch's make logged
    assert double.used_artifacts()[0].logged_by().id == first["make"]["run"]

    again = steps_of(launch(root, ray_store, "--executor", "ray", "--address", address))
    assert {s: r["state"] for s, r in again.items()} == {"make": "cached", "double": "cached"}
    assert again["double"]["cached_from"] == first["double"]["run"]

    changed = steps_of(
        launch(root, ray_store, "--executor", "ray", "--address", address, "etl.factor=5")
    )
    assert changed["make"]["state"] == "cached" and changed["double"]["state"] == "finished"
    assert api.run(changed["double"]["run"]).summary["b"] == 15.0


def test_mlproject_resources_reach_ray_and_impossible_ones_fail_the_step(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: Any
) -> None:
    address = ray_cluster.get_runtime_context().gcs_address
    make = root / "components" / "make" / "MLproject"
    make.write_text(make.read_text() + "resources: {cpus: 1, memory: 100MB}\n")
    store = tmp_path / "store"
    ran = steps_of(launch(root, store, "-s", "make", "--executor", "ray", "--address", address))
    api = open_store(monkeypatch, store)
    assigned = api.run(ran["make"]["run"]).info["executor"]["assigned"]
    assert assigned["CPU"] == 1 and assigned["memory"] == 100e6

    double = root / "components" / "double" / "MLproject"
    double.write_text(double.read_text() + "\nresources: {gpus: 1}\n")
    proc = launch(root, store, "--executor", "ray", "--address", address)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    body = json.loads(proc.stdout[proc.stdout.index("{") :])
    states = {s["step"]: s["state"] for s in body["steps"]}
    assert states == {"make": "cached", "double": "failed"}
    failed = next(s for s in body["steps"] if s["step"] == "double")
    run = api.run(failed["run"])
    assert (
        "resources.gpus: 1 requested but no node of the Ray cluster has more than 0"
        in (run.info["error"])
    )
    assert f"lower it in {double}" in run.info["error"]


def test_executor_options_for_a_course_root(root: Path) -> None:
    def stepline_cli(*args: str) -> subprocess.CompletedProcess[str]:
        cli = "import sys; from stepline.cli import main; main(sys.argv[1:])"
        return subprocess.run(
            [sys.executable, "-c", cli, "run", ".", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )

    proc = stepline_cli("--address", "auto")
    assert proc.returncode == 2 and "--address is for --executor ray" in proc.stderr
    proc = stepline_cli("--executor", "ray", "-j", "2")
    assert proc.returncode == 2 and "-j: not available for a course-style root" in proc.stderr
