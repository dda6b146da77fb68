"""prepare() and the process runner, which need no tracking core."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from stepline.components.params import InvalidParameter
from stepline.components.runner import prepare, run_process, stop_group
from stepline.envs.manager import activate


def test_prepare_positional_course_component(shared_cache: Path, course_repo: Path) -> None:
    step = prepare(
        "components/get_data",
        parameters={
            "sample": "sample1.csv",
            "artifact_name": "sample.csv",
            "artifact_type": "raw_data",
            "artifact_description": "Raw file as downloaded",
        },
        env_manager="conda",
        version="main",  # tolerated on a plain local directory
        cwd=course_repo,
    )
    assert step.name == "download_file" and step.entry_point == "main"
    assert step.command == (
        "python run.py sample1.csv sample.csv raw_data 'Raw file as downloaded'"
    )
    assert step.env_manager == "uv" and len(step.env_digest) == 32
    assert step.source_dir == course_repo / "components" / "get_data"
    assert len(step.source_digest) == 64
    again = prepare(
        course_repo / "components" / "get_data",
        parameters=dict(step.parameters),
        env_manager="conda",
    )
    assert again.env_digest == step.env_digest and again.source_digest == step.source_digest


def test_prepare_flags_continuations_defaults(shared_cache: Path, course_repo: Path) -> None:
    step = prepare(
        course_repo / "components" / "train",
        parameters={"trainval_artifact": "trainval_data.csv:latest", "output_artifact": "rf"},
    )
    assert step.parameters == {
        "trainval_artifact": "trainval_data.csv:latest",
        "val_size": "0.3",
        "random_seed": "42",
        "stratify_by": "none",
        "output_artifact": "rf",
    }
    assert step.command.startswith("python run.py --trainval_artifact trainval_data.csv:latest \\")
    with pytest.raises(InvalidParameter, match="'output_artifact' is required"):
        prepare(course_repo / "components" / "train", parameters={"trainval_artifact": "x"})
    with pytest.raises(InvalidParameter, match="'val_size' is a number"):
        prepare(
            course_repo / "components" / "train",
            parameters={"trainval_artifact": "x", "output_artifact": "y", "val_size": "big"},
        )


def test_hydra_pipeline_shape_runs_through_bash(shared_cache: Path, course_repo: Path) -> None:
    step = prepare(
        course_repo / "pipeline",
        parameters={"steps": "download,basic_cleaning", "hydra_options": "etl.min_price=10 -m"},
        env_manager="conda",
    )
    assert step.plan is not None
    active = activate(step.plan, component=step.name)
    lines: list[tuple[str, str]] = []
    rc, tail = run_process(
        active.argv(step.command),
        step.source_dir,
        active.env,
        shared_cache / "logs" / "hydra",
        on_output=lambda s, line: lines.append((s, line)),
    )
    assert rc == 0, tail
    argv = json.loads(lines[-1][1])
    assert argv == ["main.steps='download,basic_cleaning'", "etl.min_price=10", "-m"]
    assert (shared_cache / "logs" / "hydra" / "stdout.log").read_text().strip() == lines[-1][1]


def test_exit_code_and_stderr_tail(tmp_path: Path) -> None:
    rc, tail = run_process(
        ["bash", "-c", "echo out; for i in $(seq 1 30); do echo err$i >&2; done; exit 3"],
        tmp_path,
        os.environ,
        tmp_path / "logs",
    )
    assert rc == 3
    assert tail[-1] == "err30" and len(tail) == 20
    assert (tmp_path / "logs" / "stdout.log").read_text() == "out\n"


def test_stop_group_kills_grandchildren(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    proc = subprocess.Popen(
        ["bash", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], start_new_session=True, text=True
    )
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.05)
    child = int(pidfile.read_text())
    stop_group(proc, grace=2)
    assert proc.returncode is not None
    time.sleep(0.1)
    assert not _running(child)
    assert proc.returncode in (-signal.SIGINT, 130, -signal.SIGTERM, 143, -signal.SIGKILL)


def _running(pid: int) -> bool:
    """Alive and not a zombie (pid 1 here may not reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state


def test_local_env_manager_ignores_an_unbuildable_spec(tmp_path: Path) -> None:
    from stepline.errors import EnvError

    (tmp_path / "MLproject").write_text(
        "name: old\nconda_env: conda.yml\nentry_points:\n  main:\n    command: python -c pass\n"
    )
    (tmp_path / "conda.yml").write_text(
        "dependencies:\n  - git=2.30.2\n  - pip:\n"
        "    - wandb==0.10.31\n"
        "    - git+https://github.com/u/r.git#egg=wandb-utils&subdirectory=components\n"
    )
    step = prepare(tmp_path, env_manager="local")
    assert step.env_digest == "local" and step.plan is not None and step.plan.wants_wandb
    # translated (git is the machine's), it fails only where the git URL cannot be fetched
    with pytest.raises(EnvError, match=r"could not be fetched: .*STEPLINE_URL_REWRITE"):
        prepare(tmp_path, env_manager="conda")
