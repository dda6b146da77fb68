"""Which environment a component asks for: `EnvRef` (and `DockerEnv` for docker_env).

    EnvRef(kind="conda_env", file=Path("components/get_data/conda.yml"))
    EnvRef(kind="docker_env", docker=DockerEnv(image="python:3.12"))
    detect_env(Path("components/get_data"))   # python_env.yaml, then conda.y[a]ml, else "none"

`components.mlproject` fills these in from an MLproject; `envs.manager` plans and builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

EnvKind = Literal["conda_env", "python_env", "docker_env", "none"]


@dataclass(frozen=True)
class DockerEnv:
    """`docker_env`: an image, `host:container` volumes, and variables copied (`VAR`) or set."""

    image: str
    volumes: tuple[str, ...] = ()
    environment: tuple[str | tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EnvRef:
    """Which environment a component asks for; `file` for conda/python env specs."""

    kind: EnvKind
    file: Path | None = None
    docker: DockerEnv | None = None


def detect_env(directory: Path) -> EnvRef:
    """The env of a component without an env key: python_env.yaml, conda.y[a]ml, else none."""
    found: tuple[tuple[str, EnvKind], ...] = (
        ("python_env.yaml", "python_env"),
        ("conda.yaml", "conda_env"),
        ("conda.yml", "conda_env"),
    )
    for name, kind in found:
        candidate = directory / name
        if candidate.is_file():
            return EnvRef(kind=kind, file=candidate)
    return EnvRef(kind="none")
