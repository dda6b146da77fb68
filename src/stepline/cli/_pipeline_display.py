"""The live display and summaries of `stepline run`: a rich table per execution, JSON for scripts."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from stepline.pipeline.run import ExecutionResult, Listener, StepState

STYLE = {
    "pending": "dim",
    "queued": "dim",
    "running": "yellow",
    "finished": "green",
    "cached": "cyan",
    "failed": "bold red",
    "skipped": "magenta",
    "cancelled": "magenta",
}


def fmt_time(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f}s"


class LiveDisplay(Listener):
    """A table of every step's state, time, cache hit and last log line, redrawn by rich."""

    def __init__(self, console: Console, multi: bool = False) -> None:
        self.console = console
        self.multi = multi
        self.lock = threading.Lock()
        self.rows: dict[tuple[str, str], StepState] = {}
        self.labels: dict[str, str] = {}

    def step_changed(self, execution_id: str, state: StepState) -> None:
        """Remember the state; print a line instead when the output is not a terminal."""
        with self.lock:
            self.rows[(execution_id, state.name)] = state
        if not self.console.is_terminal and state.state in ("finished", "failed", "cached"):
            where = f"[{self.labels.get(execution_id, execution_id)}] " if self.multi else ""
            self.console.print(
                f"{where}{state.name}: {state.state} {fmt_time(state.duration)} {state.reason}",
                highlight=False,
            )

    def step_output(self, execution_id: str, step: str, stream: str, line: str) -> None:
        """Lines are kept on the step's state (log_tail); nothing to do here."""

    def __rich__(self) -> Table:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        if self.multi:
            table.add_column("execution")
        for col in ("step", "state", "time", "cache", "log"):
            table.add_column(col, no_wrap=col != "log", overflow="ellipsis")
        with self.lock:
            rows = list(self.rows.items())
        for (ex, _), st in rows:
            cache = f"hit {st.cached_from}" if st.cached_from else ""
            tail = st.log_tail[-1] if st.log_tail else st.reason
            cells: list[RenderableType] = [
                st.name,
                Text(st.state, style=STYLE.get(st.state, "")),
                fmt_time(st.duration),
                cache,
                Text(tail[:120], style="dim"),
            ]
            if self.multi:
                cells.insert(0, self.labels.get(ex, ex))
            table.add_row(*cells)
        return table


def summary_table(result: ExecutionResult) -> Table:
    """The end-of-run table: one row per step."""
    table = Table(title=f"execution {result.execution_id} ({result.group}): {result.status}")
    for col in ("step", "state", "run", "time", "cache", "outputs", "note"):
        table.add_column(col)
    for st in result.steps.values():
        table.add_row(
            st.name,
            Text(st.state, style=STYLE.get(st.state, "")),
            st.run_id or "",
            fmt_time(st.duration),
            f"hit ({st.cached_from})" if st.cached_from else "",
            ", ".join(f"{n}:{v}" for n, v in st.outputs.items()),
            st.reason,
        )
    return table


@contextmanager
def interruptible(cancel: threading.Event, console: Console) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop gracefully (running steps end failed). Second: abort."""

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        console.print(
            f"[yellow]{signal.Signals(signum).name}: stopping running steps…[/]", highlight=False
        )

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def result_json(result: ExecutionResult) -> dict[str, Any]:
    return {
        "execution": result.execution_id,
        "group": result.group,
        "run_id": result.run_id,
        "status": result.status,
        "duration": round(result.duration, 3),
        "steps": {n: s.to_dict() for n, s in result.steps.items()},
    }
