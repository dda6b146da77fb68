"""Messages a new user meets first say what was wrong and what would be right."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

STEPLINE = str(Path(sys.executable).parent / "stepline")
ETL = Path(__file__).resolve().parents[1] / "fixtures" / "pipelines" / "etl"


def sl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPLINE, *args], cwd=cwd, env={**os.environ}, capture_output=True, text=True, timeout=120
    )


def test_why_a_step_that_does_not_exist_lists_the_steps(tmp_path: Path) -> None:
    shutil.copytree(ETL, tmp_path / "etl")
    proc = sl("why", "nosuchstep", cwd=tmp_path / "etl")
    assert proc.returncode == 3 and proc.stderr.startswith("error: no step")
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "no step 'nosuchstep' in" in out and "run the pipeline first" not in out
    assert "steps: download, basic_cleaning, data_check, data_split" in out
    known = sl("why", "download", cwd=tmp_path / "etl")  # exists, never ran
    assert known.returncode == 3 and "run the pipeline first" in known.stdout + known.stderr


def test_why_without_a_pipeline_file_lists_the_steps_that_ran(tmp_path: Path) -> None:
    proc = sl("why", "nosuchstep", "--project", "nothing_here", cwd=tmp_path)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 3
    assert "no step 'nosuchstep' has run in project 'nothing_here'" in out
    assert "no step has run there yet" in out


def test_an_override_without_equals_says_key_value(tmp_path: Path) -> None:
    shutil.copytree(ETL, tmp_path / "etl")
    proc = sl("run", "model.max_depth", cwd=tmp_path / "etl")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "no such pipeline file" not in out
    assert "'model.max_depth' is not key=value" in out and "model.max_depth=VALUE" in out


def test_component_run_in_a_folder_without_mlproject(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    proc = sl("component", "run", ".", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"no MLproject in {tmp_path}" in proc.stderr
    assert "no entry point 'main'" not in proc.stderr
