"""The environment of a component directory or of an env spec file given directly.

    plan = plan_path(Path("components/get_data"))         # the MLproject's env, planned
    active = build_path(Path("conda.yml"), "uv", on_log=print)

`stepline env build|plan PATH` call these; a directory's env comes from its MLproject (or,
without one, from the first env spec file in it).
"""

from __future__ import annotations

from pathlib import Path

from stepline.components.mlproject import find_mlproject, load_project
from stepline.envs.lock import LogFn, lock_spec
from stepline.envs.manager import ActiveEnv, EnvPlan, activate, plan_env
from stepline.envs.ref import EnvRef
from stepline.envs.spec import SPEC_FILES, load_spec
from stepline.errors import UsageError


def env_ref_for(path: Path) -> EnvRef:
    """The env of a component directory, or of a spec file given directly."""
    if path.is_dir():
        if find_mlproject(path) is not None:
            return load_project(path).env
        for name in SPEC_FILES:
            if (path / name).is_file():
                return env_ref_for(path / name)
        raise UsageError(f"{path}: no MLproject and no env spec ({', '.join(SPEC_FILES)})")
    lower = path.name.lower()
    is_conda = lower.endswith((".yml", ".yaml")) and "python_env" not in lower
    return EnvRef(kind="conda_env" if is_conda else "python_env", file=path.resolve())


def plan_path(path: Path, manager: str | None = None, on_log: LogFn | None = None) -> EnvPlan:
    """`plan_env` for a component directory or spec file (uv unless conda is asked for)."""
    env = env_ref_for(path)
    if env.kind == "none":
        raise UsageError(f"{path}: the component has no env spec; it runs in the current env")
    return plan_env(env, manager, on_log)


def build_path(
    path: Path, manager: str | None = None, on_log: LogFn | None = None, refresh: bool = False
) -> ActiveEnv:
    """Build (or reuse) the env of a component directory or spec file."""
    env = env_ref_for(path)
    if refresh and env.file is not None:
        lock_spec(load_spec(env.file), on_log, refresh=True)
    return activate(plan_path(path, manager, on_log), on_log=on_log)
