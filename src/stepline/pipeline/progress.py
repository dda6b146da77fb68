"""What an execution reports while it runs: step states, the result, a listener port."""

from __future__ import annotations

import re
import signal
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LOG_TAIL = 5


@dataclass
class StepState:
    """A step's progress in one execution; what the live display and summary show."""

    name: str
    state: str = "pending"  # pending, queued, running, finished, failed, cached, skipped, cancelled
    run_id: str | None = None
    cached_from: str | None = None
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    reason: str = ""
    cache_key: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # name -> "vN"
    log_tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    stderr_tail: list[str] = field(default_factory=list)  # a failed run's last stderr lines
    summary: dict[str, float] = field(default_factory=dict)  # the run's numeric summary

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to now while running)."""
        if self.started is None:
            return None
        return (self.ended or time.monotonic()) - self.started

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts for the execution record."""
        return {
            "state": self.state,
            "run_id": self.run_id,
            "cached_from": self.cached_from,
            "duration": round(self.duration, 3) if self.duration is not None else None,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "cache_key": self.cache_key,
            "outputs": dict(self.outputs),
            "summary": dict(self.summary),
        }


@dataclass
class ExecutionResult:
    """The outcome of one execution."""

    execution_id: str
    group: str
    run_id: str | None
    status: str  # finished | failed | cancelled
    steps: dict[str, StepState]
    duration: float
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every selected step finished or hit the cache."""
        return self.status == "finished"

    def to_dict(self) -> dict[str, Any]:
        """JSON data (`stepline run --json`): the execution, its status and each step; a failed
        step carries its last stderr lines."""
        return {
            "execution": self.execution_id,
            "group": self.group,
            "run_id": self.run_id,
            "status": self.status,
            "duration": round(self.duration, 3),
            "steps": {
                n: {
                    **s.to_dict(),
                    **({"stderr_tail": s.stderr_tail} if s.state == "failed" else {}),
                }
                for n, s in self.steps.items()
            },
        }


class Listener:
    """Receives progress; the CLI's live display subclasses this. Calls come from many threads."""

    def step_changed(self, execution_id: str, state: StepState) -> None:
        """A step changed state."""

    def step_output(self, execution_id: str, step: str, stream: str, line: str) -> None:
        """A step printed a line."""


def metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """The plain numbers of a run summary (no media, text, flags or `_`-keys)."""
    return {
        k: v
        for k, v in summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and not k.startswith("_")
    }


def describe_exit(code: int | None) -> str:
    """`exit code 2`, or `killed by signal SIGKILL` for a negative code."""
    if code is None:
        return "failed"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


_ERROR = re.compile(r"^([\w.]+(Error|Exception|Exit|Interrupt)|error|fatal|FAILED)\b", re.I)


def error_line(lines: Iterable[str]) -> str:
    """The most telling line of a failed step's stderr tail: the last exception line
    (`ValueError: ...`, `sqlalchemy.exc.OperationalError: ...`), else the last non-empty one."""
    kept = [str(line).strip() for line in lines if str(line).strip()]
    for line in reversed(kept):
        if _ERROR.match(line):
            return line[:300]
    return kept[-1][:300] if kept else ""
