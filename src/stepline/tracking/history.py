"""The metric buffer: `run.log` appends in memory; a thread writes batches at least every 0.5 s."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

FLUSH_SECONDS = 0.5


class HistoryWriter:
    """Buffers history rows and flushes them (and the summary) off the caller's thread."""

    def __init__(
        self,
        flush_rows: Callable[[int, int, str], None],
        flush_summary: Callable[[], None],
    ) -> None:
        self._flush_rows = flush_rows
        self._flush_summary = flush_summary
        self._rows: deque[tuple[int, float, dict[str, Any]]] = deque()
        self._io_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def add(self, step: int, row: dict[str, Any]) -> None:
        self._rows.append((step, time.time(), row))  # deque.append is atomic
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="stepline-history", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
            except BaseException as exc:  # kept for finish() to raise in the caller
                self.error = exc

    def flush(self) -> None:
        with self._io_lock:
            rows = []
            pop = self._rows.popleft
            try:
                while True:
                    rows.append(pop())
            except IndexError:
                pass
            if rows:
                text = json.dumps(rows, separators=(",", ":"))
                self._flush_rows(rows[0][0], rows[-1][0], text)
            self._flush_summary()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
