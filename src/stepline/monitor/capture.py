"""Capture what a model server sees, in windows of profiles, off the request path.

`Capture.offer(frame, predictions)` is all a request does: a coin flip against `sample`
and an append to a bounded deque (a full one drops the request from the sample and counts it
in `dropped`). A daemon thread takes the waiting rows four times a second; every `window_rows` rows or
`window_seconds` seconds, whichever comes first, it profiles the window (inputs and the
`prediction` column) and hands it to the sink. `ArtifactSink` logs each window as a version
of `<model>.capture` (type profile) from a `serve` run that used the model, which is what
`stepline monitor MODEL --window last` reads; the raw rows go with it (`rows.csv`) only when
`capture_rows` is set.

Example:
    >>> capture = Capture(ArtifactSink(backend, "random_forest_export:prod"), sample=0.1)
    >>> app = create_app(model, capture=capture)
    >>> ...; capture.close()   # flushes the last, partial window
"""

from __future__ import annotations

import collections
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline.errors import InvalidValue

DEFAULT_WINDOW_ROWS = 1000
DEFAULT_WINDOW_SECONDS = 3600.0
QUEUE_SIZE = 10_000  # requests waiting for the capture thread; more are dropped, counted
TICK_SECONDS = 0.25  # how often the capture thread takes the waiting requests


@dataclass
class Window:
    """One flushed window: its profile, how it was sampled, and its rows when kept."""

    index: int
    profile: Any  # Profile
    started_at: float
    ended_at: float
    requests: int
    rows: Any = None  # a DataFrame (inputs + prediction) when capture_rows

    def metadata(self) -> dict[str, Any]:
        return {
            "window": self.index,
            "rows": self.profile.rows,
            "requests": self.requests,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


Sink = Callable[[Window], None]


class Capture:
    """Sample served requests into windows and pass each window's profile to `sink`."""

    def __init__(
        self,
        sink: Sink,
        *,
        sample: float = 1.0,
        window_rows: int = DEFAULT_WINDOW_ROWS,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        capture_rows: bool = False,
        seed: int | None = None,
    ) -> None:
        if not 0 < sample <= 1:
            raise InvalidValue(f"--sample must be in (0, 1], not {sample}")
        if window_rows < 1 or window_seconds <= 0:
            raise InvalidValue("a capture window needs at least one row and a positive duration")
        self.sink = sink
        self.sample = sample
        self.window_rows = window_rows
        self.window_seconds = window_seconds
        self.capture_rows = capture_rows
        self.dropped = 0
        self.windows = 0
        self.errors: list[str] = []
        self._random = random.Random(seed)
        self._inbox: collections.deque[tuple[Any, Any, int]] = collections.deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="stepline-capture")
        self._thread.start()

    # -- the request path -----------------------------------------------------------------------
    def offer(self, frame: Any, predictions: Any) -> None:
        """Maybe keep one request's rows and predictions (cheap; never raises, never blocks).

        It only appends to a deque: the capture thread is not woken per request (waking it
        would hand the GIL back and forth on every request), it drains the deque each tick.
        """
        if self.sample < 1 and self._random.random() >= self.sample:
            return
        if len(self._inbox) >= QUEUE_SIZE:
            self.dropped += 1
            return
        self._inbox.append((frame, predictions, 1))

    def offer_batch(self, frame: Any, parts: list[Any]) -> None:
        """`offer` for requests scored together: `frame` holds their rows in order, `parts`
        their predictions. Each request is sampled on its own; the kept ones are one item."""
        import numpy as np

        if self.sample >= 1:
            kept = parts
        else:
            keep = [self._random.random() < self.sample for _ in parts]
            kept = [p for p, k in zip(parts, keep, strict=True) if k]
            if not kept:
                return
            if len(kept) < len(parts):
                mask = np.repeat(keep, [len(p) for p in parts])
                frame = frame[mask]
        if len(self._inbox) >= QUEUE_SIZE:
            self.dropped += len(kept)
            return
        self._inbox.append((frame, np.concatenate(kept), len(kept)))

    # -- the capture thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        pending: list[tuple[Any, Any, int]] = []
        rows = 0
        started = time.time()
        tick = min(TICK_SECONDS, self.window_seconds)
        while True:
            stopping = self._stop.wait(tick)
            while self._inbox:
                item = self._inbox.popleft()
                if not pending:
                    started = time.time()
                pending.append(item)
                rows += len(item[0])
                if rows >= self.window_rows:
                    self._flush(pending, started)
                    pending, rows = [], 0
            if pending and (stopping or time.time() - started >= self.window_seconds):
                self._flush(pending, started)
                pending, rows = [], 0
            if stopping:
                return

    def _flush(self, pending: list[tuple[Any, Any, int]], started: float) -> None:
        import numpy as np
        import pandas as pd

        from stepline.monitor.profile import PREDICTION, profile_frame

        try:
            frame = pd.concat([f for f, _, _ in pending], ignore_index=True)
            predictions = np.concatenate(
                [np.asarray(p).reshape(len(f), -1)[:, 0] for f, p, _ in pending]
            )
            window = Window(
                index=self.windows,
                profile=profile_frame(frame, predictions=predictions),
                started_at=started,
                ended_at=time.time(),
                requests=sum(n for _, _, n in pending),
            )
            if self.capture_rows:
                window.rows = frame.assign(**{PREDICTION: predictions})
            self.windows += 1
            self.sink(window)
        except Exception as exc:  # a window that cannot be profiled or stored must not stop serving
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def close(self, timeout: float = 60.0) -> None:
        """Flush the current window, stop the thread and close the sink."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout)
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()


def as_frame(data: Any) -> Any:
    """The request's rows as a DataFrame, or None for tensor input (not captured)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        try:
            return pd.DataFrame(data)
        except ValueError:
            return None
    return None


class ArtifactSink:
    """Log each window as a version of `<model>.capture` (type profile) from a `serve` run.

    `model_ref` is an artifact reference (the run uses that version) or a package path (the
    windows are then named after its directory, in `project`).
    """

    def __init__(self, backend: Any, model_ref: str, project: str | None = None) -> None:
        from stepline.monitor.runner import capture_name
        from stepline.tracking import naming
        from stepline.tracking.artifact import Artifact, resolve

        self.backend = backend
        self.model: Any = None
        path = Path(model_ref)
        if path.exists():
            base = "".join(c if c.isalnum() or c in "_-." else "_" for c in path.resolve().name)
            self.project = naming.check_name(project or "uncategorized", "project name")
            self.model_ref = str(path.resolve())
        else:
            self.model = Artifact._from_record(backend, resolve(backend, model_ref, project))
            base = self.model.name
            self.project = project or self.model.project
            self.model_ref = self.model.qualified_name
        self.name = capture_name(base)
        self.run: Any = None
        self._lock = threading.Lock()

    def _serve_run(self) -> Any:
        if self.run is None:
            from stepline.monitor.runner import _new_run
            from stepline.tracking.artifact import use_artifact

            self.run = _new_run(self.backend, self.project, {"model": self.model_ref}, "serve")
            if self.model is not None:
                use_artifact(self.backend, self.model, self.project, self.run.id, None)
        return self.run

    def __call__(self, window: Window) -> None:
        from stepline.tracking.artifact import Artifact

        with self._lock:
            run = self._serve_run()
            tmp = Path(tempfile.mkdtemp(prefix="stepline-capture-"))
            (tmp / "profile.json").write_text(json.dumps(window.profile.to_dict()))
            art = Artifact(
                self.name,
                type="profile",
                description=f"Requests served by {self.model_ref}, window {window.index}",
                metadata={"model": self.model_ref, "server_pid": os.getpid(), **window.metadata()},
            )
            art.add_file(str(tmp / "profile.json"))
            if window.rows is not None:
                window.rows.to_csv(tmp / "rows.csv", index=False)
                art.add_file(str(tmp / "rows.csv"))
            run.log_artifact(art)
            run.log({"captured_rows": window.profile.rows, "window": window.index})

    def close(self) -> None:
        with self._lock:
            if self.run is not None:
                self.run.finish(exit_code=0)
