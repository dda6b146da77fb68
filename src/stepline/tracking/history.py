"""The metric buffer: `run.log` appends in memory; a thread writes batches at least every 0.5 s.

The same thread keeps the run's heartbeat fresh, so a reader can tell a live run from one whose
process died anywhere (see `metadata.runs`). Rows that cannot be written (a full disk, a locked
or unreachable database) stay queued and are retried on every tick; `close()` retries for a few
seconds more and reports how many were still unwritten, so a loss is never silent.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stepline.formats import fastjson

if TYPE_CHECKING:
    import logging

FLUSH_SECONDS = 0.5
#: how long `close()` keeps retrying rows that failed to write before counting them lost
CLOSE_RETRY_SECONDS = 2.0
#: rows kept in memory while writes fail; past this the oldest are dropped (and counted lost)
MAX_PENDING_ROWS = 1_000_000


def _logger() -> logging.Logger:
    """The `stepline` logger (logging is imported only when there is something to say)."""
    import logging

    return logging.getLogger("stepline")


class HistoryWriter:
    """Buffers history rows and flushes them (and the summary) off the caller's thread."""

    def __init__(
        self,
        flush_rows: Callable[[int, int, str], None],
        flush_summary: Callable[[], None],
        heartbeat: Callable[[], None] | None = None,
        heartbeat_seconds: float = 30.0,
        label: str = "",
    ) -> None:
        self._flush_rows = flush_rows
        self._flush_summary = flush_summary
        self._heartbeat = heartbeat
        self._heartbeat_seconds = heartbeat_seconds
        self._label = label
        self._rows: deque[tuple[int, float, dict[str, Any]]] = deque()
        self._io_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_beat = time.monotonic()
        self.logged = 0  # rows ever added
        self.dropped = 0  # rows dropped past MAX_PENDING_ROWS while writes failed
        self.error: BaseException | None = None  # the last write error, while rows wait

    @property
    def pending(self) -> int:
        """Rows added and not yet written."""
        return len(self._rows)

    def add(self, step: int, row: dict[str, Any]) -> None:
        self._rows.append((step, time.time(), row))  # deque.append is atomic
        self.logged += 1
        if self._thread is None:
            self.start()

    def start(self) -> None:
        """Start the flusher thread (it also beats the heartbeat), if not running yet."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="stepline-history", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
            except Exception as exc:  # kept queued; retried on the next tick
                if self.error is None:
                    _logger().warning(
                        "run %s: cannot write metrics (%s); %d points kept in memory, retrying",
                        self._label,
                        str(exc).splitlines()[0],
                        len(self._rows),
                    )
                self.error = exc
                continue
            if self.error is not None:
                _logger().warning("run %s: metrics are being written again", self._label)
                self.error = None
            if (
                self._heartbeat is not None
                and time.monotonic() - self._last_beat >= self._heartbeat_seconds
            ):
                try:
                    self._heartbeat()
                    self._last_beat = time.monotonic()
                except Exception:  # a missed beat is retried next tick; rows matter more
                    pass

    def flush(self) -> None:
        """Write the waiting rows and the summary; on failure the rows stay queued and it raises."""
        with self._io_lock:
            rows = []
            pop = self._rows.popleft
            try:
                while True:
                    rows.append(pop())
            except IndexError:
                pass
            if rows:
                text = fastjson.dumps(rows)
                try:
                    self._flush_rows(rows[0][0], rows[-1][0], text)
                except BaseException:
                    self._rows.extendleft(reversed(rows))
                    while len(self._rows) > MAX_PENDING_ROWS:
                        self._rows.popleft()
                        self.dropped += 1
                    raise
                self._last_beat = time.monotonic()  # writing history beats the heartbeat
            self._flush_summary()

    def close(self, retry_seconds: float = CLOSE_RETRY_SECONDS) -> int:
        """Stop the thread and write what is left; returns how many rows could not be written."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                self.flush()
                break
            except Exception as exc:
                self.error = exc
                if time.monotonic() >= deadline:
                    break
                time.sleep(FLUSH_SECONDS / 2)
        lost = len(self._rows) + self.dropped
        self._rows.clear()
        return lost
