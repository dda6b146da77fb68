"""The environment files of a model package: requirements.txt, python_env.yaml, conda.yaml."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import yaml

from stepline.models.serialize import CLOUDPICKLE, SKOPS

REQUIREMENTS = "requirements.txt"
PYTHON_ENV = "python_env.yaml"
CONDA_ENV = "conda.yaml"


def _pinned(distribution: str) -> str | None:
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return None


def default_requirements(serialization: str) -> list[str]:
    """Pinned requirements a scikit-learn package needs to be loaded and served."""
    names = ["scikit-learn", "numpy", "pandas", "scipy"]
    if serialization == SKOPS:
        names.append("skops")
    elif serialization == CLOUDPICKLE:
        names.append("cloudpickle")
    return [req for req in (_pinned(n) for n in names) if req is not None]


def write_environment(
    root: Path,
    serialization: str,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
) -> list[str]:
    """Write the three environment files into `root`; return the requirement lines."""
    reqs = (
        list(pip_requirements)
        if pip_requirements is not None
        else default_requirements(serialization)
    )
    reqs += list(extra_pip_requirements or [])
    (root / REQUIREMENTS).write_text("".join(f"{r}\n" for r in reqs))
    python = platform.python_version()
    python_env = {
        "python": python,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": [f"-r {REQUIREMENTS}"],
    }
    (root / PYTHON_ENV).write_text(yaml.safe_dump(python_env, sort_keys=False))
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": reqs}],
        "name": "model-env",
    }
    (root / CONDA_ENV).write_text(yaml.safe_dump(conda, sort_keys=False))
    return reqs
