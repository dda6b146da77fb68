"""Course-style roots: a Hydra main.py calling mlflow.run per step, run by `stepline run .`.

Real processes throughout: the root env is built by uv (hydra-core, hydra-joblib-launcher from
PyPI), main.py runs in it, and each mlflow.run call comes back to stepline as a cached step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("stepline.components")

import stepline
from stepline.errors import UsageError
from stepline.pipeline.course import is_course_root, root_parameters

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pipelines" / "course"
SRC = Path(__file__).parents[2] / "src"


def test_root_parameters() -> None:
    declared = ["steps", "hydra_options"]
    assert root_parameters(declared, ["make"], ["etl.value=1,2"], True) == {
        "steps": "make",
        "hydra_options": "etl.value=1,2 -m",
    }
    assert root_parameters(declared, None, [], False) == {}
    with pytest.raises(UsageError, match="no 'hydra_options' parameter"):
        root_parameters(["steps"], None, ["a=1"], False)
    assert is_course_root(FIXTURE) and not is_course_root(FIXTURE.parent / "etl")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "course"
    shutil.copytree(FIXTURE, dest)
    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / "store"))
    for var in ("STEPLINE_SCOPE", "STEPLINE_RUN_ID", "STEPLINE_PROJECT", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    return dest


def stepline_run(root: Path, *args: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "stepline.cli.pipeline", "run", ".", "--json", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout[proc.stdout.index("{") :])


def by_step(result: dict) -> dict[str, dict]:
    return {s["step"]: s for s in result["steps"]}


def test_course_root_runs_caches_and_sweeps(root: Path) -> None:
    first = by_step(stepline_run(root))
    assert {s: r["state"] for s, r in first.items()} == {"make": "finished", "double": "finished"}
    assert {r["project"] for r in first.values()} == {"course_demo"}  # set by main.py
    assert {r["group"] for r in first.values()} == {"development"}
    api = stepline.Api()
    used = api.run(first["double"]["run"]).used_artifacts()[0]
    assert used.logged_by().id == first["make"]["run"]

    again = by_step(stepline_run(root))
    assert {s: r["state"] for s, r in again.items()} == {"make": "cached", "double": "cached"}
    assert again["double"]["cached_from"] == first["double"]["run"]

    changed = by_step(stepline_run(root, "etl.factor=5", "-s", "make,double"))
    assert changed["make"]["state"] == "cached" and changed["double"]["state"] == "finished"
    assert api.run(changed["double"]["run"]).summary["b"] == 15.0

    sweep = stepline_run(root, "-m", "etl.value=7,8", "hydra/launcher=joblib")
    executions = {r["execution"] for r in sweep["steps"]}
    assert len(executions) == 2 and all("-j" in e for e in executions)
    for execution in executions:
        runs = {r["step"]: r for r in sweep["steps"] if r["execution"] == execution}
        used = api.run(runs["double"]["run"]).used_artifacts()[0]
        assert used.logged_by().id == runs["make"]["run"]
    values = sorted(api.run(r["run"]).summary["b"] for r in sweep["steps"] if r["step"] == "double")
    assert values == [14.0, 16.0]
    # each Hydra job is an execution of the root, ended with the root run
    for execution in executions:
        record = api.backend.get_execution(execution)
        assert record.state == "finished" and record.ended_at is not None
        assert (record.project, record.group, record.pipeline) == (
            "course_demo",
            "development",
            root.name,
        )
        assert record.parameters["launch"] == sweep["execution"]


def test_real_mlflow_stays_importable_and_failures_raise(root: Path) -> None:
    # a stand-in for the real mlflow package, found on sys.path before ours would be
    pkg = root / "mlflow"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "def run(*a, **k):\n    raise RuntimeError('the real mlflow.run was called')\n"
    )
    (pkg / "sklearn.py").write_text("MARK = 'real flavor'\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "stepline.cli.pipeline", "run", ".", "-s", "make,sklearn_check"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mlflow.sklearn: real flavor" in proc.stdout
    assert "the real mlflow.run was called" not in proc.stdout + proc.stderr
    (root / "components" / "double" / "run.py").write_text("import sys\nsys.exit(3)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stepline.cli.pipeline", "run", "."],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1
    assert "exit code 3" in proc.stdout + proc.stderr


def test_root_run_joins_the_project_and_group_of_its_steps(root: Path) -> None:
    """`runs ls -p course_demo` shows one execution: the root beside the steps main.py placed."""
    result = stepline_run(root)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    listed = subprocess.run(
        [
            str(Path(sys.executable).parent / "stepline"),
            "runs",
            "ls",
            "-p",
            "course_demo",
            "--json",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    runs = {r["id"]: r for r in json.loads(listed.stdout)}
    root_run = runs[result["run_id"]]
    assert root_run["job_type"] == "pipeline" and root_run["group"] == "development"
    assert {r["group"] for r in runs.values()} == {"development"} and len(runs) == 3
    assert stepline.Api().runs("uncategorized") == []
