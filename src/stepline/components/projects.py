"""`stepline.projects.run`: `mlflow.run`'s shape, backed by `prepare` + `execute`.

    import stepline
    submitted = stepline.projects.run(
        "components/get_data", "main",
        parameters={"sample": "sample1.csv", "artifact_name": "sample.csv"},
        env_manager="conda",        # conda.yml → uv when no conda binary is on PATH
    )
    submitted.run_id, submitted.status    # "finished"

A failure raises `StepFailed` naming the component, the run and the last lines of its stderr
(with `synchronous=False`, `wait()` returns False instead).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from stepline.components.runner import OutputFn, PreparedStep, StepResult, execute, prepare
from stepline.errors import StepFailed


def failure_message(step: PreparedStep, result: StepResult) -> str:
    """`component 'x' (entry point main) failed with exit code 1 in run abc: <stderr tail>`."""
    stream, lines = "stderr", result.stderr_tail
    if not any(line.strip() for line in lines):
        stream, lines = "stdout", result.stdout_tail
    tail = "\n".join(f"  | {line}" for line in lines[-10:]) or "  | (no output)"
    return (
        f"component '{step.name}' (entry point {step.entry_point}) failed with exit code "
        f"{result.exit_code} in run {result.run_id}; last {stream} lines:\n{tail}"
    )


class SubmittedRun:
    """A component execution: `run_id`, `status`, `wait()`, `get_status()`."""

    def __init__(self, step: PreparedStep) -> None:
        self.step = step
        self.result: StepResult | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def run_id(self) -> str:
        """The stepline run id (waits for the run to end when asynchronous)."""
        self._done.wait()
        return self.result.run_id if self.result else ""

    @property
    def status(self) -> str:
        """`running`, `finished` or `failed`."""
        if not self._done.is_set():
            return "running"
        return self.result.status if self.result else "failed"

    def get_status(self) -> str:
        """As `status` (mlflow's SubmittedRun spelling)."""
        return self.status

    def wait(self) -> bool:
        """Block until the component ends; True when it succeeded."""
        self._done.wait()
        return self.result is not None and self.result.status == "finished"

    def _execute(self, **kwargs: Any) -> None:
        try:
            self.result = execute(self.step, **kwargs)
        except BaseException as exc:  # kept for the caller of wait()
            self.error = exc
            raise
        finally:
            self._done.set()


def run(
    uri: str | os.PathLike[str],
    entry_point: str = "main",
    *,
    parameters: Mapping[str, Any] | None = None,
    env_manager: str | None = None,
    version: str | None = None,
    synchronous: bool = True,
    project: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    run_name: str | None = None,
    experiment_name: str | None = None,
    on_output: OutputFn | None = None,
    wandb: str = "stepline",
    **_ignored: Any,
) -> SubmittedRun:
    """Run a component like `mlflow.run` (see the module docstring).

    Arguments after `entry_point` are keyword-only: mlflow's third positional argument is
    `version`, so a positional call could not mean the same thing in both.
    `experiment_name` is accepted for mlflow compatibility and used as the run group when no
    `group` is given; other mlflow-only arguments (backend, backend_config, ...) are ignored.
    """
    step = prepare(uri, entry_point, parameters, env_manager, version, wandb=wandb)
    submitted = SubmittedRun(step)
    kwargs: dict[str, Any] = {
        "project": project,
        "group": group or experiment_name,
        "job_type": job_type,
        "run_name": run_name,
        "on_output": on_output,
    }
    if not synchronous:
        thread = threading.Thread(target=_quiet, args=(submitted, kwargs), daemon=True)
        submitted._thread = thread
        thread.start()
        return submitted
    submitted._execute(**kwargs)
    assert submitted.result is not None
    if submitted.result.status != "finished":
        raise StepFailed(
            failure_message(step, submitted.result), step=step.name, run_id=submitted.result.run_id
        )
    return submitted


def _quiet(submitted: SubmittedRun, kwargs: dict[str, Any]) -> None:
    try:
        submitted._execute(**kwargs)
    except Exception:  # reported through wait()/status
        pass
