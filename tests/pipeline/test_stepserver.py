"""The step server: `mlflow.run` calls of a course-style root served by forks of a warm process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import stepline
from stepline.pipeline.course import HOOK_DIR
from stepline.pipeline.stepserver import PID_ENV, SOCKET_ENV, StepServer

MAKE = Path(__file__).parents[1] / "fixtures" / "pipelines" / "course" / "components" / "make"
SRC = Path(__file__).parents[2] / "src"

CALL = """
import mlflow  # the hook's own minimal module: this env has no mlflow
submitted = mlflow.run({uri!r}, "main", env_manager="local",
                       parameters={{"value": "{value}", "artifact_name": "a.txt"}})
print("status", submitted.get_status(), submitted.run_id)
"""


def _root(value: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A root process calling mlflow.run once, with the hook on its path."""
    return subprocess.run(
        [sys.executable, "-c", CALL.format(uri=str(MAKE), value=value)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mlflow_run_is_served_by_the_step_server_or_a_process(tmp_path: Path) -> None:
    base = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HOOK_DIR), str(SRC)]),
        "STEPLINE_EXECUTION": "e1",
        "STEPLINE_PROJECT": "served",
    }
    with StepServer() as server_env:
        assert set(server_env) == {SOCKET_ENV, PID_ENV}
        # no process can be started: only the server can run this step
        served = _root("3", {**base, **server_env, "STEPLINE_PYTHON": "/nonexistent/python"})
        assert served.returncode == 0, served.stdout + served.stderr
        assert "made 3" in served.stdout  # the step's output reaches the root's stdout
        assert "status FINISHED" in served.stdout
        again = _root("3", {**base, **server_env, "STEPLINE_PYTHON": "/nonexistent/python"})
        assert "cache hit" in again.stdout and "status FINISHED" in again.stdout
    assert not Path(server_env[SOCKET_ENV]).exists()  # the server and its folder are gone
    # without a server the hook starts a process, as before
    alone = _root("4", {**base, "STEPLINE_PYTHON": sys.executable})
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "made 4" in alone.stdout
    api = stepline.Api()
    assert [a.version for a in api.artifact_versions("served/a.txt")] == ["v0", "v1"]
    states = sorted(r.state for r in api.runs("served"))
    assert states == ["cached", "finished", "finished"]
