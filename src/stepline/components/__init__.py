"""Components: MLproject model + parser, parameter rendering, sources, and the runner.

from stepline.components import prepare, execute
step = prepare("components/get_data", parameters={"sample": "sample1.csv"})
result = execute(step, job_type="download")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["PreparedStep", "StepResult", "execute", "prepare"]

if TYPE_CHECKING:
    from stepline.components.runner import PreparedStep, StepResult, execute, prepare


def __getattr__(name: str) -> Any:
    # lazy, so that importing `components.mlproject` alone does not load the runner and envs
    if name in __all__:
        from stepline.components import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'stepline.components' has no attribute {name!r}")
