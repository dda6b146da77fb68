"""Running any command against stepline: plain scripts and notebooks that `import wandb`.

`stepline exec -- python train.py` (or `-- jupyter execute eda.ipynb`) runs the command with
the environment `exec_env()` returns:

- stepline's drop-in `wandb` (and stepline itself) first on PYTHONPATH, so `import wandb` in the
  script, or in a notebook kernel the command starts, tracks into stepline;
- `STEPLINE_DIR` set to the store found from the working folder, so a kernel or a child process
  started in another folder still writes to the same store;
- optional run defaults (`WANDB_PROJECT`/`STEPLINE_PROJECT`, group, job type), which the code's
  own `wandb.init(project=...)` still overrides;
- PATH led by the folder of the Python running stepline when no other venv is active, so
  `python` and `jupyter` mean the venv stepline is installed in, as if it were activated.

    env = exec_env(project="exercise_5")
    os.execvpe("python", ["python", "script.py"], env)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from stepline import _settings
from stepline.settings import DIR, RUN_ID, Settings


def exec_env(
    project: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables a command runs under for `stepline exec` (see the module docstring)."""
    from stepline.envs.manager import shim_dir

    env = dict(os.environ if base is None else base)
    env[DIR] = str(_settings.locate_store(settings=Settings.from_env(env)).path)
    shim = str(shim_dir(wandb=True))
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != shim]
    env["PYTHONPATH"] = os.pathsep.join([shim, *rest])
    for value, suffix in ((project, "PROJECT"), (group, "RUN_GROUP"), (job_type, "JOB_TYPE")):
        if value:
            env[f"STEPLINE_{suffix}"] = env[f"WANDB_{suffix}"] = value
    for var in (RUN_ID, "WANDB_RUN_ID"):  # a new run, not the caller's
        env.pop(var, None)
    active = env.get("VIRTUAL_ENV")
    if not active or Path(active).resolve() == Path(sys.prefix).resolve():
        here = str(Path(sys.executable).parent)
        parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != here]
        env["PATH"] = os.pathsep.join([here, *parts])
    return env
