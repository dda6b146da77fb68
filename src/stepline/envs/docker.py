"""docker_env: the `docker run` (or `podman run`) command for a component, and the engine check.

The component directory is mounted at /stepline/component (the working directory), the stepline
store at its own path (so STEPLINE_DIR stays valid inside), the tracking variables are passed
with -e, and the spec's volumes and environment are added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from stepline.envs.ref import DockerEnv
from stepline.errors import EnvError

WORKDIR = "/stepline/component"
TRACKING_PREFIXES = ("STEPLINE_", "WANDB_", "MLFLOW_")


def find_client() -> str:
    """`docker`, else `podman`, from PATH."""
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path:
            return path
    raise EnvError("docker_env needs a container engine: neither docker nor podman is on PATH")


def engine_address() -> str:
    """Where the client will look for the engine (for messages)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def check_engine(client: str) -> None:
    """Raise EnvError unless the engine behind `client` answers."""
    try:
        proc = subprocess.run(
            [client, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        name = Path(client).name
        raise EnvError(f"{name} client found but no engine at {engine_address()}: {exc}") from exc
    if proc.returncode != 0 or not proc.stdout.strip():
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise EnvError(
            f"{Path(client).name} client found but no engine at {engine_address()}"
            + (f": {detail[-1]}" if detail else "")
            + "; start the engine (or set DOCKER_HOST), or run with --env-manager uv"
        )


def docker_argv(
    docker: DockerEnv,
    component_dir: Path,
    command: str,
    env: Mapping[str, str],
    store_dir: Path | None = None,
    client: str = "docker",
) -> list[str]:
    """The full argv of `docker run` for `command` (pure: nothing is run)."""
    argv = [client, "run", "--rm", "-v", f"{Path(component_dir).resolve()}:{WORKDIR}"]
    argv += ["-w", WORKDIR]
    if store_dir is not None:
        store = Path(store_dir).resolve()
        argv += ["-v", f"{store}:{store}"]
    for key in sorted(env):
        if key.startswith(TRACKING_PREFIXES):
            argv += ["-e", f"{key}={env[key]}"]
    for volume in docker.volumes:
        argv += ["-v", volume]
    for item in docker.environment:
        if isinstance(item, tuple):
            argv += ["-e", f"{item[0]}={item[1]}"]
        else:
            if item not in env and item not in os.environ:
                raise EnvError(
                    f"docker_env.environment copies '{item}' from the host, but it is not set; "
                    f'set it, or write ["{item}", "value"] in the MLproject'
                )
            argv += ["-e", f"{item}={env.get(item, os.environ.get(item, ''))}"]
    argv += [docker.image, "bash", "-c", command]
    return argv
