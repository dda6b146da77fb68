"""Progress bars for long CLI work: files and bytes into or out of the store, env builds (uv's
packages and bytes), a running step (elapsed time and its last log line).

Drawn with rich on stderr when stderr is a terminal; when it is piped, `live()` yields a reporter
that does nothing, so scripts see no progress noise. The library reports through
`stepline.progress` (files) and log callbacks (env builds, step output); this module only draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from stepline import progress as lib_progress
from stepline.envs.uv_progress import UvProgress

_NAMES = {"hash": "storing", "copy": "writing"}


class Reporter:
    """What commands call while they work; the base class draws nothing (piped output)."""

    def observe(self, event: lib_progress.Progress) -> None:
        """A `stepline.progress` event (files and bytes)."""

    def env_line(self, line: str) -> None:
        """One line of an env build's log."""

    def step_started(self, name: str) -> None:
        """A step's command started."""

    def step_line(self, line: str) -> None:
        """One line of the running step's output."""

    def step_ended(self) -> None:
        """The step's command ended."""


class RichReporter(Reporter):
    """Bars for file tasks and env builds, a spinner line for the running step."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.files: dict[tuple[str, str], TaskID] = {}
        self.uv: UvProgress | None = None
        self.env_task: TaskID | None = None
        self.step_task: TaskID | None = None
        self.step_name = ""

    def observe(self, event: lib_progress.Progress) -> None:
        key = (event.task, event.label)
        if key not in self.files:
            what = f"{_NAMES.get(event.task, event.task)} {event.label}"
            self.files[key] = self.bars.add_task(what, total=event.bytes_total or None, files="")
        self.bars.update(
            self.files[key],
            completed=event.bytes_done,
            files=f"{event.done}/{event.total} files",
        )

    def env_line(self, line: str) -> None:
        if self.uv is None:
            self.uv = UvProgress()
            self.env_task = self.bars.add_task("building env", total=None, files="")
        if self.uv.feed(line) and self.env_task is not None:
            uv = self.uv
            self.bars.update(
                self.env_task,
                description=f"env: {uv.phase}",
                total=uv.bytes_total or None,
                completed=uv.bytes_done,
                files=uv.describe(),
            )

    def step_started(self, name: str) -> None:
        self.step_name = name
        self.step_task = self.bars.add_task(f"starting {name}", total=None, files="")

    def step_line(self, line: str) -> None:
        if self.step_task is not None:
            if self.env_task is not None:
                self.bars.update(self.env_task, visible=False)
            self.bars.update(
                self.step_task, description=f"running {self.step_name}", files=line.strip()[:80]
            )

    def step_ended(self) -> None:
        if self.step_task is not None:
            self.bars.remove_task(self.step_task)
            self.step_task = None


@contextmanager
def live(console: Console | None = None) -> Iterator[Reporter]:
    """A reporter drawing on `console` (default: stderr) if it is a terminal, else a silent one.

    `stepline.progress` events inside the block go to it.
    """
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield Reporter()
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TextColumn("{task.fields[files]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    reporter = RichReporter(bars)
    with bars, lib_progress.observe(reporter.observe):
        yield reporter
