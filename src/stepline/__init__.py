"""stepline: local-first ML pipelines with versioned artifacts, runs and lineage.

The tracking API is shaped like Weights & Biases', so `import stepline as wandb` works:

>>> import stepline
>>> with stepline.init(project="nyc_airbnb", job_type="basic_cleaning") as run:
...     raw = run.use_artifact("sample.csv:latest")
...     run.log({"rows": 1000})

Everything lives in `.stepline/` under the project root (override: STEPLINE_DIR); no server needed.
"""

from __future__ import annotations

from stepline._version import __version__

TYPE_CHECKING = False  # importing typing would cost more than the rest of this module

__all__ = [
    "Api",
    "Artifact",
    "Image",
    "Run",
    "SteplineError",
    "Table",
    "__version__",
    "config",
    "finish",
    "init",
    "log",
    "log_artifact",
    "run",
    "summary",
    "use_artifact",
]

#: the current run (set by init), its config and summary, as W&B exposes them
run: Any = None
config: Any = None
summary: Any = None

_LAZY = {
    "init": ("stepline.tracking.run", "init"),
    "finish": ("stepline.tracking.run", "finish"),
    "log": ("stepline.tracking.run", "log"),
    "Run": ("stepline.tracking.run", "Run"),
    "Artifact": ("stepline.tracking.artifact", "Artifact"),
    "Api": ("stepline.tracking.api", "Api"),
    "Image": ("stepline.tracking.media", "Image"),
    "Table": ("stepline.tracking.media", "Table"),
    "SteplineError": ("stepline.errors", "SteplineError"),
}

if TYPE_CHECKING:
    from typing import Any

    from stepline.errors import SteplineError
    from stepline.tracking.api import Api
    from stepline.tracking.artifact import Artifact
    from stepline.tracking.media import Image, Table
    from stepline.tracking.run import Run, finish, init, log


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        if name in ("models", "registry", "projects", "components", "pipeline", "checks"):
            import importlib

            try:
                return importlib.import_module(f"stepline.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"stepline.{name}":
                    raise
        raise AttributeError(f"module 'stepline' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def use_artifact(ref: Any, type: str | None = None) -> Any:
    """`run.use_artifact` on the current run."""
    from stepline.tracking.run import active_run

    current = active_run()
    if current is None:
        from stepline.errors import UsageError

        raise UsageError("stepline.use_artifact() needs a run: call stepline.init() first")
    return current.use_artifact(ref, type=type)


def log_artifact(
    artifact: Any,
    name: str | None = None,
    type: str | None = None,
    aliases: list[str] | None = None,
) -> Any:
    """`run.log_artifact` on the current run."""
    from stepline.tracking.run import active_run

    current = active_run()
    if current is None:
        from stepline.errors import UsageError

        raise UsageError("stepline.log_artifact() needs a run: call stepline.init() first")
    return current.log_artifact(artifact, name=name, type=type, aliases=aliases)
