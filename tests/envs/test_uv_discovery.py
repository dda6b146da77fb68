"""stepline finds uv as pip installed it (the `uv` package's binary), not only on PATH.

The commands run as a user who never activated the venv runs them: `.venv/bin/stepline ...`
with a PATH of system folders only, where no `uv` lives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BARE_PATH = "/usr/local/bin:/usr/bin:/bin"
STEPLINE = str(Path(sys.executable).parent / "stepline")


def bare_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**env, "PATH": BARE_PATH, "STEPLINE_CACHE_DIR": str(cache), **extra}


def test_no_uv_on_the_bare_path() -> None:
    assert shutil.which("uv", path=BARE_PATH) is None, "this PATH must not hold a uv"


def test_env_build_and_component_run_without_uv_on_path(shared_cache: Path, tmp_path: Path) -> None:
    assert shutil.which("uv", path=BARE_PATH) is None
    comp = tmp_path / "step"
    comp.mkdir()
    (comp / "python_env.yaml").write_text("dependencies:\n  - tomli==2.0.1\n")
    (comp / "MLproject").write_text(
        "name: step\npython_env: python_env.yaml\nentry_points:\n  main:\n"
        "    command: \"python -c 'import tomli, sys; print(sys.prefix)'\"\n"
    )
    env = bare_env(shared_cache)
    built = subprocess.run(
        [STEPLINE, "env", "build", "step", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    path = json.loads(built.stdout)["path"]
    ran = subprocess.run(
        [STEPLINE, "component", "run", "step"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert f"[step] {path}" in ran.stdout


def test_no_uv_anywhere_names_what_to_install(tmp_path: Path) -> None:
    """Without the uv package (its import blocked) and without uv on PATH: one clear error."""
    code = (
        "import sys; sys.modules['uv'] = None\n"
        "from stepline.envs.uv import uv_bin\n"
        "from stepline.errors import MissingTool\n"
        "try:\n    uv_bin()\nexcept MissingTool as exc:\n    print(exc.code, exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=bare_env(tmp_path / "cache"),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("missing_tool ")
    assert "no 'uv' on PATH" in proc.stdout and "pip install uv" in proc.stdout
