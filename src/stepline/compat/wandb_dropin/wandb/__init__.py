"""A drop-in `wandb` backed by stepline: `import wandb` in a component tracks into stepline.

stepline puts this directory on a component's PYTHONPATH instead of installing wandb, so code
written for W&B runs unchanged and offline::

    import wandb
    run = wandb.init(job_type="basic_cleaning")
    art = run.use_artifact("sample.csv:latest")
    wandb.log({"rows": 10}); run.finish()

Module-level `wandb.config`, `wandb.summary`, `wandb.log` and `wandb.run` follow the active run.
"""

from __future__ import annotations

from typing import Any

import stepline as _stepline

Artifact = _stepline.Artifact
Image = _stepline.Image
Table = _stepline.Table
Api = _stepline.Api
__version__ = "0.0.0+stepline"


def __getattr__(name: str) -> Any:
    if name == "run":
        return _active()
    raise AttributeError(f"module 'wandb' (stepline drop-in) has no attribute {name!r}")


def _active() -> Any:
    from stepline.tracking.run import active_run

    return active_run()


class _Proxy:
    """Forwards to an attribute of the active run; usable before init without failing."""

    def __init__(self, attr: str) -> None:
        object.__setattr__(self, "_attr", attr)
        object.__setattr__(self, "_pending", {})

    def _target(self) -> Any:
        run = _active()
        return getattr(run, object.__getattribute__(self, "_attr")) if run is not None else None

    def __getattr__(self, name: str) -> Any:
        target = self._target()
        if target is None:
            pending = object.__getattribute__(self, "_pending")
            if name == "update":
                return pending.update
            if name in pending:
                return pending[name]
            raise AttributeError(name)
        return getattr(target, name)

    def __setattr__(self, name: str, value: Any) -> None:
        target = self._target()
        if target is None:
            object.__getattribute__(self, "_pending")[name] = value
        else:
            setattr(target, name, value)

    def __getitem__(self, key: str) -> Any:
        target = self._target()
        return object.__getattribute__(self, "_pending")[key] if target is None else target[key]

    def __setitem__(self, key: str, value: Any) -> None:
        target = self._target()
        if target is None:
            object.__getattribute__(self, "_pending")[key] = value
        else:
            target[key] = value

    def __contains__(self, key: object) -> bool:
        target = self._target()
        return key in (object.__getattribute__(self, "_pending") if target is None else target)


config: Any = _Proxy("config")
summary: Any = _Proxy("summary")


def init(*args: Any, **kwargs: Any) -> Any:
    """`wandb.init`: stepline.init (W&B-only arguments such as entity, save_code are ignored)."""
    run = _stepline.init(*args, **kwargs)
    pending = object.__getattribute__(config, "_pending")
    if pending:
        run.config.update(dict(pending))
        pending.clear()
    return run


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """Log to the active run (init first)."""
    _stepline.log(data, step=step, commit=commit)


def log_artifact(artifact: Any, aliases: list[str] | None = None, **_: Any) -> Any:
    """`wandb.log_artifact`: on the active run."""
    run = _active()
    if run is None:
        raise RuntimeError("wandb.log_artifact() called before wandb.init()")
    return run.log_artifact(artifact, aliases=aliases)


def use_artifact(name: str, **_: Any) -> Any:
    """`wandb.use_artifact`: on the active run."""
    run = _active()
    if run is None:
        raise RuntimeError("wandb.use_artifact() called before wandb.init()")
    return run.use_artifact(name)


def finish(exit_code: int | None = None, **_: Any) -> None:
    """Finish the active run."""
    _stepline.finish(exit_code=exit_code)


def login(*_: Any, **__: Any) -> bool:
    """No-op: stepline needs no account."""
    return True


def watch(*_: Any, **__: Any) -> None:
    """No-op (gradient watching is not tracked)."""
