"""What `stepline run` tells about failed steps, steps that never started, and steps that did nothing.

Real processes: pipeline.yaml steps run through the real runner (local env); course-style roots run
their Hydra main.py in a uv-built env, with each mlflow.run call coming back as a step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import stepline
from stepline.cli import cli as stepline_cli

from .helpers import component, pipeline

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pipelines" / "course"
SRC = Path(__file__).parents[2] / "src"

NOISY = 'for i in $(seq 1 30); do echo "err line $i" >&2; done; exit 3'


def _noisy_pipeline(root: Path) -> Path:
    component(root, "make", 'echo 5 > "$STEPLINE_OUT/a.txt"', {})
    d = component(root, "score", "python score.py", {})
    (d / "score.py").write_text(
        "import stepline\nrun = stepline.init()\nrun.summary['mae'] = 0.125\n"
        "run.summary['r2'] = 0.75\nrun.summary['note'] = 'text is not a metric'\n"
    )
    component(root, "noisy", NOISY, {})
    return pipeline(
        root,
        {
            "make": {"component": "components/make", "outputs": ["a.txt"]},
            "score": {"component": "components/score"},
            "noisy": {"component": "components/noisy"},
        },
    )


def test_a_failed_step_shows_its_stderr_tail_and_the_logs_command(tmp_path: Path) -> None:
    path = _noisy_pipeline(tmp_path)
    res = CliRunner().invoke(stepline_cli, ["run", str(path), "-j", "1"])
    assert res.exit_code == 1, res.output
    out = res.output
    assert "noisy failed: exit code 3" in out
    assert "err line 30" in out and "err line 11" in out
    assert "err line 10\n" not in out  # the last 20 lines, not all of them
    run_id = re.search(r"full logs: stepline runs show (\w+) --logs", out)[1]  # type: ignore[index]
    logs = stepline.Api().run(run_id).logs("stderr") or ""
    assert logs.startswith("err line 1\n") and logs.endswith("err line 30\n")
    data = json.loads(CliRunner().invoke(stepline_cli, ["run", str(path), "--json"]).stdout)
    assert data["steps"]["noisy"]["stderr_tail"][-1] == "err line 30"


def test_the_summary_table_shows_each_steps_metrics(tmp_path: Path) -> None:
    path = _noisy_pipeline(tmp_path)
    first = CliRunner().invoke(stepline_cli, ["run", str(path), "-s", "make,score"])
    assert first.exit_code == 0, first.output
    assert "mae=0.125" in first.output and "r2=0.75" in first.output
    assert "text is not a metric" not in first.output
    again = CliRunner().invoke(stepline_cli, ["run", str(path), "-s", "make,score", "--json"])
    score = json.loads(again.stdout)["steps"]["score"]
    assert score["state"] == "cached" and score["summary"] == {"mae": 0.125, "r2": 0.75}
    assert (
        "mae=0.125"
        in CliRunner().invoke(stepline_cli, ["run", str(path), "-s", "make,score"]).output
    )


MAIN_EXTRA = """
    if "broken" in active_steps:
        mlflow.run(os.path.join(hydra.utils.get_original_cwd(), repo, "broken"), "main")
    if "noisy" in active_steps:
        mlflow.run(os.path.join(hydra.utils.get_original_cwd(), repo, "noisy"), "main",
                   env_manager="local")
    if "noop" in active_steps:
        pass
"""


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "course"
    shutil.copytree(FIXTURE, dest)
    main = dest / "main.py"
    text = main.read_text()
    marker = '    if "sklearn_check" in active_steps:'
    main.write_text(text.replace(marker, MAIN_EXTRA.strip("\n") + "\n" + marker))
    broken = dest / "components" / "broken"
    broken.mkdir()
    (broken / "MLproject").write_text(
        "name: broken\npython_env: python_env.yaml\n"
        "entry_points:\n  main:\n    command: python -c pass\n"
    )
    (broken / "python_env.yaml").write_text(
        'python: "3.11"\ndependencies:\n  - stepline-no-such-package-zzz==1.0\n'
    )
    noisy = dest / "components" / "noisy"
    noisy.mkdir()
    (noisy / "MLproject").write_text(
        f"name: noisy\nentry_points:\n  main:\n    command: '{NOISY}'\n"
    )
    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / "store"))
    for var in ("STEPLINE_SCOPE", "STEPLINE_RUN_ID", "STEPLINE_PROJECT", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    return dest


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    # as from an activated venv (uv comes with stepline there)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "stepline.cli.pipeline", "run", ".", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_course_root_reports_unstarted_failed_and_empty_steps(course: Path) -> None:
    proc = _run(course, "-s", "make,broken", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout[proc.stdout.index("{") :])
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["make"]["state"] == "finished"
    assert steps["broken"]["state"] == "failed"
    assert "stepline-no-such-package-zzz" in steps["broken"]["reason"]

    proc = _run(course, "-s", "make,double")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "b=6" in proc.stdout  # double's summary metric, in the table

    proc = _run(course, "-s", "noisy")
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "noisy failed: exit code 3" in out and "err line 30" in out
    assert "stepline runs show" in out and "--logs" in out

    proc = _run(course, "-s", "noop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no step ran" in proc.stdout and "-s noop" in proc.stdout


BACKEND = '''\
"""A build backend whose metadata resolves but whose wheel cannot be built."""
import os

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name = "unbuildable-0.1.dist-info"
    os.makedirs(os.path.join(metadata_directory, name), exist_ok=True)
    with open(os.path.join(metadata_directory, name, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: unbuildable\\nVersion: 0.1\\n")
    return name

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("this package refuses to build")
'''


def test_an_env_that_fails_to_build_is_a_failed_step_in_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
    )
    pkg = tmp_path / "unbuildable"
    pkg.mkdir()
    (pkg / "backend.py").write_text(BACKEND)
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    component(tmp_path, "make", 'echo 5 > "$STEPLINE_OUT/a.txt"', {})
    d = tmp_path / "components" / "needs_env"
    d.mkdir(parents=True)
    (d / "MLproject").write_text(
        "name: needs_env\npython_env: python_env.yaml\nentry_points:\n  main:\n    command: 'true'\n"
    )
    (d / "python_env.yaml").write_text(f'python: "3.11"\ndependencies:\n  - {pkg}\n')
    path = pipeline(
        tmp_path,
        {
            "make": {"component": "components/make", "outputs": ["a.txt"]},
            "needs_env": {"component": "components/needs_env"},
        },
    )
    res = CliRunner().invoke(stepline_cli, ["run", str(path), "-j", "1"])
    assert res.exit_code == 1, res.output
    data = json.loads(CliRunner().invoke(stepline_cli, ["run", str(path), "--json"]).stdout)
    step = data["steps"]["needs_env"]
    assert step["state"] == "failed" and step["run_id"] is None
    assert "refuses to build" in step["reason"]
    assert data["steps"]["make"]["state"] in ("finished", "cached")
    assert "needs_env failed:" in res.output
