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
import signal
import subprocess
import sys
import time
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_on_a_course_root_cancels_its_ray_task(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: Any
) -> None:
    """SIGINT to the launch's process group, as a terminal's Ctrl-C: the running step's task is
    cancelled on its worker (the component's process stops, its run ends failed), the next
    `mlflow.run` never starts, and the command exits non-zero."""
    address = ray_cluster.get_runtime_context().gcs_address
    pid_file = tmp_path / "make.pid"
    make = root / "components" / "make" / "run.py"
    make.write_text(
        "import os, pathlib, time\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(300)\n" + make.read_text()
    )
    store = tmp_path / "store"
    env = {**os.environ, "STEPLINE_DIR": str(store)}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    cmd = ["run", ".", "--executor", "ray", "--address", address]
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepline.cli.pipeline", *cmd],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600  # the root's uv env may be built first
        while not (pid_file.exists() and pid_file.read_text()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.2)
        step_pid = int(pid_file.read_text())
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, out + err
    deadline = time.monotonic() + 30
    while _alive(step_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(step_pid), "the step's process outlived the cancel"
    api = open_store(monkeypatch, store)
    deadline = time.monotonic() + 30
    while True:
        runs = api.runs("course_demo", {"info.step": "make"})
        if [r.state for r in runs] != ["running"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [r.state for r in runs] == ["failed"], [(r.id, r.state) for r in runs]
    assert api.runs("course_demo", {"info.step": "double"}) == []


def test_a_lost_worker_fails_its_course_step_with_the_run_it_began(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: Any
) -> None:
    """The component's parent is its Ray worker: kill it, as a lost node would. The step fails
    naming the loss; its one run (the one the worker began) is ended failed, and no second,
    never-started run is recorded beside it."""
    address = ray_cluster.get_runtime_context().gcs_address
    make = root / "components" / "make" / "run.py"
    make.write_text(
        "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(60)\n"
        + make.read_text()
    )
    store = tmp_path / "store"
    proc = launch(root, store, "--executor", "ray", "--address", address)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "its Ray worker was lost" in proc.stdout + proc.stderr
    api = open_store(monkeypatch, store)
    runs = api.runs("course_demo", {"info.step": "make"})
    assert [(r.state, r.info.get("worker_lost")) for r in runs] == [("failed", True)]
    assert runs[0].info.get("started") is not False
    assert api.runs("course_demo", {"info.step": "double"}) == []


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
