"""`stepline component run DIR -e script.py`: a `.py` entry point that imports wandb, unchanged."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.backends import reset

STEPLINE = str(Path(sys.executable).parent / "stepline")
SCRIPT = "import wandb\nrun = wandb.init(project='scripts', job_type='clean')\nrun.finish()\n"


@pytest.mark.parametrize("mlproject", [False, True], ids=["plain-folder", "with-mlproject"])
def test_a_py_entry_point_gets_the_wandb_stand_in(tmp_path: Path, mlproject: bool) -> None:
    folder = tmp_path / "clean"
    folder.mkdir()
    (folder / "clean.py").write_text(SCRIPT)
    if mlproject:
        (folder / "MLproject").write_text(
            "name: clean\nentry_points:\n  main:\n    command: python clean.py\n"
        )
    proc = subprocess.run(
        [STEPLINE, "component", "run", ".", "-e", "clean.py"],
        cwd=folder,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    reset()
    (run,) = stepline.Api().runs("scripts")
    assert (run.job_type, run.state) == ("clean", "finished")
    assert run.info["entry_point"] == "clean.py"


@pytest.mark.skipif(
    importlib.util.find_spec("wandb") is not None, reason="a real wandb is installed here"
)
def test_wandb_real_leaves_the_stand_in_out(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text(SCRIPT)
    proc = subprocess.run(
        [STEPLINE, "component", "run", ".", "-e", "clean.py", "--wandb", "real"],
        cwd=tmp_path,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "No module named 'wandb'" in proc.stderr
