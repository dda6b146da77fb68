"""The metric buffer: `run.log` appends in memory; a thread writes batches at least every 0.5 s."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

FLUSH_SECONDS = 0.5


class HistoryWriter:
    """Buffers history rows and flushes them (and the summary) off the caller's thread."""

    def __init__(
        self,
        flush_rows: Callable[[list[tuple[int, float, str]]], None],
        flush_summary: Callable[[], None],
    ) -> None:
        self._flush_rows = flush_rows
        self._flush_summary = flush_summary
        self._rows: list[tuple[int, float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def add(self, step: int, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append((step, time.time(), row))
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
            with self._lock:
                rows, self._rows = self._rows, []
            if rows:
                dumps = json.JSONEncoder(separators=(",", ":")).encode
                self._flush_rows([(s, ts, dumps(d)) for s, ts, d in rows])
            self._flush_summary()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
