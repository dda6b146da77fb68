"""`init(mode="disabled")`: a run whose every call does nothing, for tests and dry runs."""

from __future__ import annotations

from typing import Any

from stepline.tracking.values import config_from


class _Nothing(dict[str, Any]):
    def update(self, other: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(config_from(other) if other is not None else {}, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class DisabledRun:
    """Accepts the Run API and records nothing."""

    id = "disabled"
    name = "disabled"
    project = "disabled"
    group = None
    job_type = None

    def __init__(self, config: Any = None) -> None:
        self.config = _Nothing(config_from(config))
        self.summary = _Nothing()

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None

    def log_artifact(self, artifact: Any, *args: Any, **kwargs: Any) -> Any:
        return artifact

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def disabled_run(config: Any = None) -> Any:
    return DisabledRun(config)
