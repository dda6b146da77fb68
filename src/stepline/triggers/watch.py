"""The polling loop behind `stepline watch`.

    watcher = Watcher(load_pipeline("pipeline.yaml"), dry_run=False)
    outcomes = watcher.poll_once()          # arm, or handle what fired, one event at a time
    watcher.run(interval=30, stop=event)    # until `stop` is set (SIGINT/SIGTERM in the CLI)

One poll looks at every trigger of the pipeline and handles at most one event per trigger, one
after the other (never two executions of a pipeline at once; across processes the store's lock
says so). With `dry_run` nothing is written: the events that would run are returned unhandled.
`now` is injectable so schedules can be tested with a clock of the test's choosing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepline.errors import Conflict, MissingExtra, SteplineError
from stepline.pipeline.spec import PipelineSpec
from stepline.triggers.action import Outcome, handle
from stepline.triggers.events import DriftCheck, Event, PollContext, poll
from stepline.triggers.record import Records


@dataclass
class Seen:
    """One poll's view of a trigger: its event (if any), what was done, or why it waits."""

    trigger: str
    event: Event | None = None
    outcome: Outcome | None = None
    waiting: str = ""
    busy: bool = False


class Watcher:
    """Polls one pipeline's triggers and handles their events."""

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        dry_run: bool = False,
        now: Callable[[], float] = time.time,
        drift_check: DriftCheck | None = None,
        jobs: int | None = None,
        listener: Any = None,
    ) -> None:
        if spec.triggers is None:
            from stepline.errors import SpecError

            raise SpecError(f"{spec.path}: no 'triggers:' section; nothing to watch")
        if drift_check is None and any(t.kind == "drift" for t in spec.triggers.on.values()):
            import importlib.util

            if importlib.util.find_spec("stepline.monitor") is None:
                raise MissingExtra(
                    f"{spec.path}: a drift trigger needs stepline.monitor, which is not installed"
                )
        self.spec = spec
        self.triggers = spec.triggers
        self.dry_run = dry_run
        self.now = now
        self.jobs = jobs
        self.listener = listener
        self.ctx = PollContext(
            records=Records(spec.project, spec.name),
            project=spec.project,
            debounce=self.triggers.debounce,
            drift_check=drift_check,
        )

    def poll_once(
        self,
        on_seen: Callable[[Seen], None] | None = None,
        on_start: Callable[[Event], None] | None = None,
    ) -> list[Seen]:
        """Look at each trigger once; handle (or, dry, only report) what fired.

        `on_start(event)` is called before an event's pipeline runs, `on_seen(seen)` after
        each trigger was looked at (and its event handled).
        """
        out: list[Seen] = []
        for trigger in self.triggers.on.values():
            try:
                event = poll(trigger, self.ctx, self.now())
            except SteplineError as exc:  # a drift check that cannot run: say so, keep watching
                out.append(Seen(trigger.name, None, waiting=f"error: {exc}"))
                if on_seen is not None:
                    on_seen(out[-1])
                continue
            seen = Seen(trigger.name, event, waiting=self.ctx.waiting.get(trigger.name, ""))
            if event is not None and not self.dry_run:
                if on_start is not None and not event.armed:
                    on_start(event)
                try:
                    seen.outcome = handle(self.spec, event, jobs=self.jobs, listener=self.listener)
                except Conflict as exc:
                    seen.busy, seen.waiting = True, str(exc)
                except SteplineError as exc:  # recorded with its reason by `handle`
                    seen.waiting = f"error: {exc}"
            out.append(seen)
            if on_seen is not None:
                on_seen(seen)
        return out

    def run(
        self,
        interval: float,
        stop: threading.Event,
        on_seen: Callable[[Seen], None] | None = None,
        on_start: Callable[[Event], None] | None = None,
    ) -> None:
        """Poll every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            self.poll_once(on_seen, on_start)
            stop.wait(interval)
