"""Executors: where a step's component actually runs.

The port is two methods: `submit(task)` returns a future of the step's `StepResult`, and
`cancel()` stops what is running. A step shares no in-process state with the scheduler: a
`StepTask` carries everything `Runner.execute` needs, so a Ray executor only has to ship the
task to a worker and return its result.

    with LocalExecutor(runner, jobs=4) as ex:
        future = ex.submit(task)
        result = future.result()
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stepline.pipeline.ports import OutputCallback, PreparedStep, Runner, StepResult


@dataclass
class StepTask:
    """One step to execute: the prepared component and how to record its run."""

    step: str
    prepared: PreparedStep
    project: str | None
    group: str | None  # None: the run defaults of where the step runs
    run_name: str | None = None
    # the run's job type: a pipeline step's name; None leaves it to the component (course steps)
    job_type: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    # cpus / gpus / memory (bytes) from the step's `resources:` over its MLproject's; the local
    # executor ignores them
    resources: Mapping[str, float] = field(default_factory=dict)
    # for each key of `resources`, the file that asked for it (for "lower it in ..." messages)
    resources_from: Mapping[str, str] = field(default_factory=dict)
    # times an executor may re-run the step when its worker is lost (`retries:`; 0: never)
    retries: int = 0
    # local-only hooks (not shipped to remote workers)
    on_output: OutputCallback | None = None
    on_start: Callable[[], None] | None = None


class Executor(Protocol):
    """Runs step tasks; `submit` must not block on the step."""

    def submit(self, task: StepTask) -> Future[StepResult]:
        """Start (or queue) a step; the future resolves to its `StepResult`."""
        ...

    def cancel(self) -> None:
        """Stop running steps (their runs end failed) and drop queued ones."""
        ...

    def shutdown(self) -> None:
        """Release workers after all futures are done."""
        ...


def default_jobs() -> int:
    """Parallel steps by default: the number of usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class LocalExecutor:
    """Runs up to `jobs` steps at once on this machine.

    Each step's component runs in its own process (`Runner.execute` starts it), so threads
    are enough here: a worker thread only waits for its child and forwards output lines.
    """

    def __init__(self, runner: Runner, jobs: int | None = None) -> None:
        self.runner = runner
        self.jobs = jobs or default_jobs()
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="stepline-step")
        self._cancelled = threading.Event()

    def submit(self, task: StepTask) -> Future[StepResult]:
        """Queue `task`; it starts when a worker is free."""
        return self._pool.submit(self._run, task)

    def _run(self, task: StepTask) -> StepResult:
        if self._cancelled.is_set():
            raise Cancelled(task.step)
        if task.on_start:
            task.on_start()
        return self.runner.execute(
            task.prepared,
            project=task.project,
            group=task.group,
            job_type=task.job_type,
            run_name=task.run_name,
            extra_env=dict(task.extra_env),
            info=dict(task.info),
            on_output=task.on_output,
        )

    def cancel(self) -> None:
        """Drop queued steps and send SIGTERM to the running steps' process groups."""
        self._cancelled.set()
        terminate_children(signal.SIGTERM)

    def shutdown(self) -> None:
        """Wait for workers and release them."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class Cancelled(Exception):
    """A queued step that was dropped because the execution was interrupted."""


def child_pids(pid: int | None = None) -> list[int]:
    """Direct children of `pid` (default: this process), from /proc; empty where unavailable."""
    pid = pid or os.getpid()
    out: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text().split()
            out.extend(int(p) for p in text)
    except OSError:
        return []
    return sorted(set(out))


def terminate_children(sig: int = signal.SIGTERM) -> list[int]:
    """Send `sig` to the process group of each child of this process that leads its own group.

    The component runner starts every step in a new session, so this reaches each running
    step with everything it started (and no grandchild keeps its output pipe open), while
    children the caller started in our own process group are left alone. Returns the
    process groups signalled.
    """
    own = os.getpgrp()
    sent: list[int] = []
    for pid in child_pids():
        try:
            if os.getpgid(pid) == pid != own:
                os.killpg(pid, sig)
                sent.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return sent
