"""Helpers shared by the example tests: load a component's run.py, run it as a user would.

The `store` fixture (a fresh `.stepline/` in tmp_path, STEPLINE_DIR pointing at it) comes from
tests/conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import stepline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SRC = ROOT / "src"

HAS_CORE = all(hasattr(stepline, name) for name in ("init", "Artifact", "Api"))
requires_core = pytest.mark.skipif(
    not HAS_CORE, reason="needs the tracking core (stepline.init/Artifact/Api): merge main"
)


def load_module(path: Path) -> ModuleType:
    """Import a component's run.py under a unique module name."""
    name = "example_" + "_".join(path.parent.parts[-2:]).replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def component_env(store: Path, project: str = "examples") -> dict[str, str]:
    """The environment a component runs with: stepline from this worktree, a store in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPLINE_", "WANDB_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["STEPLINE_DIR"] = str(store)
    env["STEPLINE_ARTIFACT_DIR"] = str(store.parent / "artifacts")  # not into the examples
    env["STEPLINE_PROJECT"] = project
    env["MPLBACKEND"] = "Agg"
    return env


def run_component(
    component: Path,
    args: list[str],
    store: Path,
    *,
    command: list[str] | None = None,
    project: str = "examples",
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python run.py ARGS`` (or ``command``) in the component's folder."""
    cmd = command or [sys.executable, "run.py", *args]
    proc = subprocess.run(
        cmd, cwd=component, env=component_env(store, project), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
            f"\n--- stderr\n{proc.stderr[-5000:]}"
        )
    return proc


@pytest.fixture()
def small_samples(tmp_path: Path) -> tuple[Path, Path]:
    """3,000 generated rows of each rental sample: small1.csv (sample1's market), small2.csv."""
    paths = []
    for variant in (1, 2):
        path = tmp_path / f"small{variant}.csv"
        subprocess.run(
            [sys.executable, str(EXAMPLES / "rental_prices" / "data" / "generate.py"),
             "--variant", str(variant), "--rows", "3000", "--out", str(path)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        paths.append(path)
    return paths[0], paths[1]
