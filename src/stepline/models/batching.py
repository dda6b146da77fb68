"""Score requests that arrive together in one `predict` call (adaptive batching).

A scikit-learn pipeline spends most of a one-row prediction on per-call overhead (validation,
each transformer, each tree's dispatch), so four rows cost little more than one. Two batchers
share one rule: score whatever is waiting, at most `max_rows` rows, in one call, give each
request its slice, and when a batch fails score its requests one by one, so an error reaches
only the request that caused it. Nothing waits for a batch to fill: a lone request is scored at
once.

- `RowBatcher` runs on the server's event loop, for small JSON requests (`dataframe_split`,
  `dataframe_records`): their rows are joined *before* pandas sees them, so a batch builds one
  DataFrame, checks the signature once and predicts once. Requests that come in while a batch
  is scored wait in their sockets and make the next batch. A batch that has fewer requests
  than there are clients sending (connections seen in the last second, each with at most one
  request in flight) waits up to 2 ms for theirs, so that clients answered together stay
  together instead of splitting into batches that take turns.
- `Batcher` takes checked DataFrames from many threads (requests too large for the loop).

Only row-wise models belong here (each row's prediction depends on that row alone), which
scikit-learn's estimators are; `stepline serve --no-batch` turns it off.

Example:
    >>> batcher = Batcher(model, max_rows=256)
    >>> batcher.predict(model.prepare(frame))      # from any thread
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import ModelError

DEFAULT_MAX_ROWS = 256
#: how long a batch waits, at most, for requests of clients that are still to send theirs
DEFAULT_LINGER_SECONDS = 0.002
#: a client that sent nothing for this long is no longer waited for
ACTIVE_SECONDS = 1.0


def _predict(model: Any, frame: Any) -> Any:
    try:
        return model.estimator.predict(frame)
    except Exception as exc:
        raise ModelError(f"the model failed to predict: {type(exc).__name__}: {exc}") from exc


def predict_together(model: Any, frame: Any, sizes: Sequence[int]) -> list[Any] | None:
    """`model`'s predictions for `frame` cut into `sizes` rows each, or None when they cannot
    be had in one call (the call failed, or gave another number of rows)."""
    import numpy as np

    try:
        together = model.estimator.predict(frame)
    except Exception:
        return None
    if not isinstance(together, np.ndarray) or len(together) != sum(sizes):
        return None
    out, start = [], 0
    for size in sizes:
        out.append(together[start : start + size])
        start += size
    return out


class Batcher:
    """Scores prepared DataFrames from many threads in shared `estimator.predict` calls."""

    def __init__(self, model: Any, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.model = model
        self.max_rows = max_rows
        self.batches = 0
        self.batched_requests = 0
        self._queue: queue.Queue[tuple[Any, Future[Any]]] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="stepline-batcher")
        self._thread.start()

    def predict(self, frame: Any) -> Any:
        """The predictions for `frame` (already prepared), scored with whatever else waits."""
        done: Future[Any] = Future()
        self._queue.put((frame, done))
        return done.result()

    def _one(self, frame: Any) -> Any:
        return _predict(self.model, frame)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            rows = len(batch[0][0])
            while rows < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
                rows += len(item[0])
            self._score(batch)

    def _score(self, batch: list[tuple[Any, Future[Any]]]) -> None:
        if len(batch) > 1:
            import pandas as pd

            frames = [f for f, _ in batch]
            columns = list(frames[0].columns)
            if all(list(f.columns) == columns for f in frames):
                sizes = [len(f) for f in frames]
                parts = predict_together(self.model, pd.concat(frames, ignore_index=True), sizes)
                if parts is not None:
                    self.batches += 1
                    self.batched_requests += len(batch)
                    for part, (_, done) in zip(parts, batch, strict=True):
                        done.set_result(part)
                    return
        for frame, done in batch:
            try:
                done.set_result(self._one(frame))
            except BaseException as exc:
                done.set_exception(exc)


def batch_rows(doc: Any) -> tuple[tuple[str, ...], list[list[Any]]] | None:
    """(columns, rows) of a parsed `/invocations` body that `RowBatcher` can join with others:
    a `dataframe_split` without index, or `dataframe_records` whose rows share their keys, no
    params. None for anything else (scored on its own, with its own checks and errors)."""
    if not isinstance(doc, dict) or len(doc) != 1:
        return None
    split = doc.get("dataframe_split")
    if isinstance(split, dict):
        columns, data = split.get("columns"), split.get("data")
        if set(split) != {"columns", "data"} or not isinstance(columns, list) or not data:
            return None
        if not isinstance(data, list) or not all(isinstance(c, str) for c in columns):
            return None
        width = len(columns)
        if len(set(columns)) != width or any(
            not isinstance(r, list) or len(r) != width for r in data
        ):
            return None
        return tuple(columns), data
    records = doc.get("dataframe_records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        keys = tuple(records[0])
        names = set(keys)
        if not all(isinstance(r, dict) and r.keys() == names for r in records):
            return None
        return keys, [[r[k] for k in keys] for r in records]
    return None


@dataclass
class _Waiting:
    rows: list[list[Any]]
    future: asyncio.Future[Any]
    alone: Callable[[], Any]  # scores this request by itself (its own errors)


@dataclass
class _Group:
    columns: tuple[str, ...]
    waiting: list[_Waiting] = field(default_factory=list)
    rows: int = 0


class RowBatcher:
    """Joins the rows of requests waiting on one event loop into one frame, check and predict.

    `submit(columns, rows, alone)` is awaited by a request handler on the loop; it resolves to
    the request's predictions (a numpy array) or to whatever `alone()` returns, the request
    scored by itself, when its batch cannot be scored together. `on_batch(frame, parts)` is
    called with each batch's raw frame and predictions (serving's capture).
    """

    def __init__(
        self,
        model: Any,
        max_rows: int = DEFAULT_MAX_ROWS,
        on_batch: Callable[[Any, list[Any]], None] | None = None,
        linger: float = DEFAULT_LINGER_SECONDS,
    ) -> None:
        self.model = model
        self.max_rows = max_rows
        self.on_batch = on_batch
        self.linger = linger
        self.requests = 0
        self.batches = 0
        self.batched_requests = 0
        self._groups: dict[tuple[str, ...], _Group] = {}
        self._waiting = 0
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._clients: dict[Any, float] = {}

    def _senders(self, now: float) -> int:
        """Clients (connections) that sent a request in the last `ACTIVE_SECONDS`."""
        if len(self._clients) > 64 or self.requests % 256 == 0:
            self._clients = {c: t for c, t in self._clients.items() if now - t < ACTIVE_SECONDS}
        return sum(1 for t in self._clients.values() if now - t < ACTIVE_SECONDS)

    def submit(
        self,
        columns: tuple[str, ...],
        rows: list[list[Any]],
        alone: Callable[[], Any],
        client: Any = None,
    ) -> asyncio.Future[Any]:
        """Queue one request's rows; `client` tells apart the connections that send."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.requests += 1
        self._clients[client] = now
        waiting = _Waiting(rows, loop.create_future(), alone)
        group = self._groups.get(columns)
        if group is None or group.rows + len(rows) > self.max_rows:
            if group is not None:  # full: score it now, start another
                self._waiting -= len(group.waiting)
                self._score(self._groups.pop(columns))
            group = self._groups[columns] = _Group(columns)
        group.waiting.append(waiting)
        group.rows += len(rows)
        self._waiting += 1
        if self._timer is None:
            self._deadline = now + self.linger
        if self._timer is None or self._waiting >= self._senders(now):
            if self._timer is not None:
                self._timer.cancel()
            # after the handlers of the requests that are ready now: they join this batch
            self._timer = loop.call_soon(self._flush)
        return waiting.future

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._waiting < self._senders(now) and now < self._deadline:
            self._timer = loop.call_at(min(now + 0.0002, self._deadline), self._flush)
            return
        self._timer = None
        self._waiting = 0
        groups, self._groups = list(self._groups.values()), {}
        for group in groups:
            self._score(group)

    def _score(self, group: _Group) -> None:
        parts = self._together(group) if len(group.waiting) > 1 else None
        if parts is not None:
            self.batches += 1
            self.batched_requests += len(group.waiting)
            for part, waiting in zip(parts, group.waiting, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(part)
            return
        for waiting in group.waiting:
            if waiting.future.done():  # the client went away
                continue
            try:
                waiting.future.set_result(waiting.alone())
            except Exception as exc:
                waiting.future.set_exception(exc)

    def _together(self, group: _Group) -> list[Any] | None:
        import pandas as pd

        rows = [row for waiting in group.waiting for row in waiting.rows]
        try:
            frame = pd.DataFrame(rows, columns=list(group.columns))
            prepared = self.model.prepare(frame)
        except Exception:
            return None  # scored one by one: each request gets its own error
        sizes = [len(w.rows) for w in group.waiting]
        parts = predict_together(self.model, prepared, sizes)
        if parts is not None and self.on_batch is not None:
            try:
                self.on_batch(frame, parts)
            except Exception:  # what watches the batches must not fail their requests
                pass
        return parts
