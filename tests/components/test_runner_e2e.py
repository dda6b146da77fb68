"""Course-shaped components run end to end: real uv envs, real runs in a real store."""

from pathlib import Path

import pytest

import stepline
from stepline.backends import reset
from stepline.components import execute, prepare
from stepline.components.projects import run as projects_run
from stepline.errors import StepFailed


@pytest.fixture
def course_store(store: Path, monkeypatch: pytest.MonkeyPatch, course_repo: Path) -> Path:
    """The root `store` fixture's fresh store, used from the course repo with main.py's env."""
    monkeypatch.setenv("WANDB_PROJECT", "nyc_airbnb")
    monkeypatch.setenv("WANDB_RUN_GROUP", "development")
    monkeypatch.chdir(course_repo)
    return store


def test_get_data_then_pytest_data_check(shared_cache: Path, course_store: Path) -> None:
    lines: list[tuple[str, str]] = []
    submitted = projects_run(
        "components/get_data",
        "main",
        parameters={
            "sample": "sample1.csv",
            "artifact_name": "sample.csv",
            "artifact_type": "raw_data",
            "artifact_description": "Raw file as downloaded",
        },
        env_manager="conda",
        version="main",
        on_output=lambda s, line: lines.append((s, line)),
    )
    assert submitted.status == "finished" and submitted.wait()
    api = stepline.Api()
    run = api.run(submitted.run_id)
    assert run.state == "finished"
    assert run.project == "nyc_airbnb" and run.group == "development"
    assert run.config["sample"] == "sample1.csv"
    assert run.info["entry_point"] == "main"
    assert run.info["command"].startswith("python run.py sample1.csv sample.csv raw_data")
    assert len(run.info["env_digest"]) == 32 and len(run.info["source_digest"]) == 64
    assert "Uploading sample.csv" in (run.logs("stderr") or "")  # logging writes to stderr
    assert any(s == "stderr" and "Returning sample sample1.csv" in line for s, line in lines)
    art = api.artifact("nyc_airbnb/sample.csv:latest")
    assert art.type == "raw_data" and art.version == "v0"
    assert Path(art.file()).read_text().startswith("id,price")

    ok = prepare(
        "components/data_check",
        parameters={"csv": "sample.csv:latest", "min_price": 10, "max_price": 350},
    )
    assert ok.command == "pytest . -vv --csv sample.csv:latest --min_price 10 --max_price 350"
    result = execute(ok, job_type="data_check")
    assert result.status == "finished" and result.exit_code == 0, result.stdout_tail
    assert "2 passed" in (api.run(result.run_id).logs("stdout") or "")

    with pytest.raises(StepFailed) as err:
        projects_run(
            "components/data_check",
            parameters={"csv": "sample.csv:latest", "min_price": 10, "max_price": 100},
        )
    message = str(err.value)
    assert "component 'data_check'" in message and err.value.run_id in message
    assert "failed with exit code 1" in message and "1 failed, 1 passed" in message
    assert api.run(err.value.run_id).state == "failed"


def test_ctrl_c_stops_the_group_and_fails_the_run(tmp_path: Path, course_store: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    comp = tmp_path / "sleeper"
    comp.mkdir()
    (comp / "MLproject").write_text(
        "name: sleeper\nentry_points:\n  main:\n"
        '    command: "sleep 60 & echo $! > child.pid; echo started; wait"\n'
    )
    script = (
        "import sys; from stepline.components import prepare, execute\n"
        "step = prepare(sys.argv[1], env_manager='local')\n"
        "execute(step, on_output=lambda s, l: print(l, flush=True))\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(comp)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) != 0
    child = int((comp / "child.pid").read_text())
    time.sleep(0.2)
    status = Path(f"/proc/{child}/status")
    assert not status.exists() or "State:\tZ" in status.read_text()
    reset()
    runs = stepline.Api().runs("nyc_airbnb")
    assert runs and runs[0].state == "failed" and runs[0].info["interrupted"] is True


def test_flag_command_with_backslash_continuations(shared_cache: Path, course_store: Path) -> None:
    import json

    step = prepare(
        "components/train",
        parameters={"trainval_artifact": "trainval_data.csv:latest", "output_artifact": "rf"},
    )
    assert step.env_manager == "uv"
    lines: list[tuple[str, str]] = []
    result = execute(step, on_output=lambda s, line: lines.append((s, line)))
    assert result.status == "finished", result.stderr_tail
    printed = json.loads([line for s, line in lines if s == "stdout"][-1])
    assert printed == {
        "output_artifact": "rf",
        "random_seed": 42,
        "stratify_by": "none",
        "trainval_artifact": "trainval_data.csv:latest",
        "val_size": 0.3,
    }
    run = stepline.Api().run(result.run_id)
    assert run.config["val_size"] == "0.3" and run.info["env_manager"] == "uv"


def test_git_source_with_subdir_and_version(tmp_path: Path, course_store: Path) -> None:
    import subprocess

    repo = tmp_path / "repo"
    (repo / "steps" / "hello").mkdir(parents=True)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
            cwd=repo, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q", "-b", "main")
    (repo / "steps" / "hello" / "MLproject").write_text(
        "name: hello\nentry_points:\n  main:\n    parameters: {who: str}\n"
        "    command: echo hello {who} v1\n"
    )
    git("add", "-A")
    git("commit", "-qm", "v1")
    git("tag", "v1")
    (repo / "steps" / "hello" / "MLproject").write_text(
        "name: hello\nentry_points:\n  main:\n    parameters: {who: str}\n"
        "    command: echo hello {who} v2\n"
    )
    git("commit", "-qam", "v2")
    lines: list[str] = []
    step = prepare(f"file://{repo}#steps/hello", parameters={"who": "course"}, version="v1")
    assert step.commit == git("rev-parse", "v1") and step.env_manager == "local"
    result = execute(step, on_output=lambda s, line: lines.append(line))
    assert lines == ["hello course v1"] and result.status == "finished"
    info = stepline.Api().run(result.run_id).info
    assert info["git_commit"] == step.commit and info["source"].startswith("file://")
    latest = prepare(f"file://{repo}#steps/hello", parameters={"who": "x"})
    assert latest.command == "echo hello x v2" and latest.source_digest != step.source_digest
