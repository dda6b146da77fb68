"""The live display and summaries of `stepline run`: a rich table per execution, JSON for scripts."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from stepline.envs.uv_progress import UvProgress
from stepline.pipeline.progress import metrics
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
        self.envs: dict[tuple[str, str], UvProgress] = {}  # steps whose env is being built

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
        """Lines are kept on the step's state (log_tail); env build lines feed its uv counts."""
        key = (execution_id, step)
        with self.lock:
            if stream == "env":
                self.envs.setdefault(key, UvProgress()).feed(line)
            else:
                self.envs.pop(key, None)  # the command runs: show its own lines

    def __rich__(self) -> Table:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        if self.multi:
            table.add_column("execution")
        for col in ("step", "state", "time", "cache", "log"):
            table.add_column(col, no_wrap=col != "log", overflow="ellipsis")
        with self.lock:
            rows = list(self.rows.items())
            envs = {k: uv.describe() for k, uv in self.envs.items() if uv.packages_total}
        for (ex, name), st in rows:
            cache = f"hit {st.cached_from}" if st.cached_from else ""
            tail = st.log_tail[-1] if st.log_tail else st.reason
            if st.state == "running" and (ex, name) in envs:
                tail = f"env: {envs[(ex, name)]}"
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


def compact_metrics(summary: Mapping[str, Any], limit: int = 3) -> str:
    """`mae=34.4 r2=0.626`: the first few numeric summary values, 4 significant digits."""
    shown = [f"{k}={v:.4g}" for k, v in list(metrics(summary).items())[:limit]]
    more = len(metrics(summary)) - limit
    return " ".join(shown) + (f" +{more}" if more > 0 else "")


def summary_table(result: ExecutionResult) -> Table:
    """The end-of-run table: one row per step."""
    table = Table(title=f"execution {result.execution_id} ({result.group}): {result.status}")
    show_metrics = any(st.summary for st in result.steps.values())
    cols = ["step", "state", "run", "time", "cache", "outputs"]
    for col in [*cols, *(["summary"] if show_metrics else []), "note"]:
        table.add_column(col)
    for st in result.steps.values():
        cells: list[RenderableType] = [
            st.name,
            Text(st.state, style=STYLE.get(st.state, "")),
            st.run_id or "",
            fmt_time(st.duration),
            f"hit ({st.cached_from})" if st.cached_from else "",
            ", ".join(f"{n}:{v}" for n, v in st.outputs.items()),
            *([compact_metrics(st.summary)] if show_metrics else []),
            first_line(st.reason),
        ]
        table.add_row(*cells)
    return table


TAIL_SHOWN = 20


def first_line(text: str, width: int = 100) -> str:
    """A reason fit for a table cell; the full text is printed below the table."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width and "\n" not in text.strip() else line[:width] + " …"


def print_failure(
    console: Console, step: str, reason: str, run_id: str | None, stderr_tail: Sequence[str]
) -> None:
    """A failed step's reason, the last lines of its stderr and the command for the full logs."""
    where = f" (run {run_id})" if run_id else ""
    console.print(Text(f"{step} failed: {reason}{where}", style="bold red"))
    lines = [line.rstrip("\n") for line in stderr_tail][-TAIL_SHOWN:]
    if lines:
        console.print(Text(f"last {len(lines)} lines of its stderr:", style="dim"))
        for line in lines:
            console.print(Text("  " + line), highlight=False)
    if run_id:
        console.print(f"full logs: stepline runs show {run_id} --logs", highlight=False)


def course_rows(execution: str) -> list[dict[str, Any]]:
    """The step runs a course-style root's launch made, with reason, metrics and stderr tail."""
    from stepline.errors import SteplineError
    from stepline.pipeline.progress import describe_exit, error_line
    from stepline.tracking.api import Api

    api = Api()
    rows = []
    for r in api.runs(None, filters={"info.launch": execution}, order="created_at"):
        summary = r.summary
        origin = r.info.get("cached_from")
        if origin:
            try:
                summary = api.run(origin).summary
            except SteplineError:
                summary = {}
        tail: list[str] = []
        reason = ""
        if r.state == "failed":
            reason = r.info.get("error") or ""
            if not reason:
                tail = (r.logs("stderr") or "").splitlines()[-TAIL_SHOWN:]
                line = error_line(tail)
                reason = describe_exit(r.exit_code) + (f": {line}" if line else "")
        rows.append(
            {
                "run": r.id,
                "project": r.project,
                "group": r.group,
                "job_type": r.job_type,
                "step": r.info.get("step"),
                "state": r.state,
                "cached_from": origin,
                "execution": r.info.get("execution"),
                "summary": metrics(summary),
                "reason": reason,
                "started": bool(r.info.get("started", True)),
                "stderr_tail": tail,
            }
        )
    return rows


def print_failures(console: Console, result: ExecutionResult) -> None:
    """`print_failure` for every step of `result` that failed."""
    for st in result.steps.values():
        if st.state == "failed":
            print_failure(console, st.name, st.reason, st.run_id, st.stderr_tail)


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
