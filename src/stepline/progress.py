"""Progress of long work, reported to an observer that the caller installs; stepline never prints it.

Library code that may take long (hashing and copying files into the store, materializing a
version) reports `Progress` events; a surface draws them. The CLI installs a rich progress bar
when its output is a terminal and nothing at all when it is piped:

>>> from stepline import progress
>>> with progress.observe(lambda p: print(p.task, p.done, p.total, p.bytes_done)):
...     art.add_dir("data/")

Without an observer, reporting costs one context-variable lookup per batch of work. Events are
throttled (at most about ten a second per task, plus the last one) and may come from worker
threads. Environment builds report through their log callback instead (`on_log`), whose uv lines
`stepline.envs.uv_progress` turns into counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Observer", "Progress", "Task", "current", "observe", "start"]


@dataclass(frozen=True)
class Progress:
    """One report: `done` of `total` items (files, packages) and bytes, for one task."""

    task: str  # "hash" (files into the store), "copy" (files out of it), ...
    label: str  # what the task works on, e.g. the folder
    done: int
    total: int | None
    bytes_done: int = 0
    bytes_total: int | None = None
    detail: str = ""  # the current item
    finished: bool = False


Observer = Callable[[Progress], None]

_observer: ContextVar[Observer | None] = ContextVar("stepline_progress", default=None)


@contextmanager
def observe(observer: Observer | None) -> Iterator[None]:
    """Send the progress of work done inside the block (in this context) to `observer`."""
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


def current() -> Observer | None:
    """The installed observer, if any."""
    return _observer.get()


class Task:
    """Counts one task's progress and reports it, throttled; safe to advance from many threads."""

    INTERVAL = 0.1

    def __init__(
        self,
        observer: Observer,
        task: str,
        label: str,
        total: int | None = None,
        bytes_total: int | None = None,
    ) -> None:
        self._observer = observer
        self._lock = threading.Lock()
        self.task, self.label, self.total, self.bytes_total = task, label, total, bytes_total
        self.done = 0
        self.bytes_done = 0
        self._last = 0.0
        self._emit("")

    def _emit(self, detail: str, finished: bool = False) -> None:
        self._last = time.monotonic()
        self._observer(
            Progress(
                self.task,
                self.label,
                self.done,
                self.total,
                self.bytes_done,
                self.bytes_total,
                detail,
                finished,
            )
        )

    def advance(self, items: int = 1, nbytes: int = 0, detail: str = "") -> None:
        """`items` more done (and `nbytes`); reports when the last report is 0.1 s old."""
        with self._lock:
            self.done += items
            self.bytes_done += nbytes
            if time.monotonic() - self._last >= self.INTERVAL:
                self._emit(detail)

    def finish(self) -> None:
        """Report the final counts once more, marked finished."""
        with self._lock:
            self._emit("", finished=True)


def start(
    task: str, label: str, total: int | None = None, bytes_total: int | None = None
) -> Task | None:
    """A `Task` reporting to the installed observer, or None when nobody is watching."""
    observer = _observer.get()
    if observer is None:
        return None
    return Task(observer, task, label, total, bytes_total)
