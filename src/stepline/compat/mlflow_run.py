"""`mlflow.run` → `stepline.projects.run`, for pipelines written for MLflow Projects.

A Hydra `main.py` that calls `mlflow.run(f"{repo}/get_data", "main", parameters=..., env_manager=
"conda")` runs its steps through stepline (uv envs, tracked runs) when this is installed, while the
rest of mlflow (`mlflow.sklearn`, `infer_signature`, ...) stays the real package. It is opt-in:
stepline installs it in a component's process when `STEPLINE_MLFLOW_RUN=stepline` is set
(`stepline component run --mlflow-run stepline`), through the `sitecustomize` in `compat/site`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

PATCHED = "__stepline_patched__"


def run(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    docker_args: Any = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    backend: str = "local",
    backend_config: Any = None,
    storage_dir: str | None = None,
    synchronous: bool = True,
    run_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    build_image: bool = False,
    docker_auth: Any = None,
) -> Any:
    """`mlflow.run`'s signature (version is the third positional argument), run by stepline.

    As with mlflow, the step's output goes to this process's stdout and stderr. A pipeline written
    for mlflow + wandb names its project and group in WANDB_PROJECT / WANDB_RUN_GROUP at run
    time; those win over STEPLINE_* values this process merely inherited.
    """
    import os

    from stepline.components.projects import run as stepline_run

    return stepline_run(
        uri,
        entry_point,
        parameters=parameters,
        env_manager=env_manager,
        version=version,
        synchronous=synchronous,
        run_name=run_name,
        experiment_name=experiment_name,
        project=os.environ.get("WANDB_PROJECT") or None,
        group=os.environ.get("WANDB_RUN_GROUP") or None,
        on_output=_echo,
    )


def _echo(stream: str, line: str) -> None:
    target = sys.stderr if stream in ("stderr", "env") else sys.stdout
    print(line, file=target, flush=True)


def _patch(module: ModuleType) -> None:
    if getattr(module, PATCHED, False):
        return
    module.run = run  # type: ignore[attr-defined]
    setattr(module, PATCHED, True)


class _Finder(importlib.abc.MetaPathFinder):
    """Patches `mlflow` and `mlflow.projects` right after they are imported."""

    names: Sequence[str] = ("mlflow", "mlflow.projects")

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _patch(module)
            if fullname == "mlflow" and "mlflow.projects" in sys.modules:
                _patch(sys.modules["mlflow.projects"])

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Route `mlflow.run` / `mlflow.projects.run` to stepline in this process."""
    for name in ("mlflow", "mlflow.projects"):
        if name in sys.modules:
            _patch(sys.modules[name])
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
