"""A component's run records the component's own interpreter and command, not the launcher's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.backends import reset

STEPLINE = str(Path(sys.executable).parent / "stepline")
MLPROJECT = """name: {name}
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      n: {{type: int, default: 3}}
    command: "python {script} --n {{n}}"
"""
TRACKED = "import sys, wandb\nrun = wandb.init(job_type='t')\nprint(sys.executable)\nrun.finish()\n"
PLAIN = "import sys\nprint(sys.executable)\n"


@pytest.mark.parametrize("script", [TRACKED, PLAIN], ids=["imports-wandb", "no-tracking"])
def test_the_run_records_the_components_python_and_command(
    shared_cache: Path, tmp_path: Path, script: str
) -> None:
    folder = tmp_path / "comp"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT.format(name="comp", script="job.py"))
    (folder / "python_env.yaml").write_text('python: "3.13"\ndependencies:\n  - wandb\n')
    (folder / "job.py").write_text(script)
    proc = subprocess.run(
        [STEPLINE, "component", "run", str(folder), "-P", "n=5", "--project", "rec"],
        cwd=tmp_path,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    child_python = proc.stdout.strip().splitlines()[-1].removeprefix("[comp] ")
    reset()
    (run,) = stepline.Api().runs("rec")
    assert run.command == "python job.py --n 5"
    assert run.python_version.startswith("3.13."), run.python_version
    assert sys.version_info[:2] != (3, 13)  # the launcher's is another one
    assert Path(run.info["python"]).parent == Path(child_python).parent
