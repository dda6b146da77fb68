"""`stepline watch`: run a pipeline's triggers as a long-lived local process."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import click


def _line(seen: Any, dry_run: bool) -> str | None:
    event, outcome = seen.event, seen.outcome
    if event is None:
        return f"{seen.trigger}: waiting ({seen.waiting})" if seen.waiting else None
    if dry_run:
        if event.armed:
            return f"{seen.trigger}: would arm at {event.key.removeprefix('armed:')} (no run)"
        return f"would run the pipeline for {event.describe()}"
    if seen.busy:
        return f"{seen.trigger}: busy: {seen.waiting}"
    if outcome is None:
        return f"{seen.trigger}: {event.key}: {seen.waiting}" if seen.waiting else None
    if event.armed:
        return f"{seen.trigger}: armed at {event.key.removeprefix('armed:')}"
    if outcome.execution is None:
        return f"{seen.trigger}: {event.key}: {outcome.reason}"
    status = outcome.execution.status
    return (
        f"{seen.trigger}: {event.key}: execution {outcome.execution.execution_id} {status}; "
        f"{'promoted' if outcome.promoted else 'not promoted'}: {outcome.reason} "
        f"(record {outcome.record_id})"
    )


@click.command("watch")
@click.argument("pipeline", required=False)
@click.option("--dry-run", is_flag=True, help="Print what would run; run and record nothing.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds between two polls of the triggers.",
)
@click.option("--once", is_flag=True, help="Poll once, handle what fired, and exit.")
@click.option("-j", "--jobs", type=int, help="Steps run at once (as for stepline run).")
def watch(
    pipeline: str | None, dry_run: bool, interval: float, once: bool, jobs: int | None
) -> None:
    """Poll PIPELINE's `triggers:` and run, test and promote when one fires.

    The first look at a trigger arms it (only later versions or ticks run). Each event runs
    the pipeline once, also across restarts: handled events are `trigger` runs in the store.
    SIGINT or SIGTERM stops the watch; a run cut short that way runs again next time.
    With --once the exit code is 1 when a triggered execution failed.

    \b
    Examples:
      stepline watch examples/rental_prices --once --dry-run
      stepline watch pipeline.yaml --interval 60
    """
    from stepline.pipeline.spec import load_pipeline
    from stepline.triggers.watch import Watcher

    spec = load_pipeline(pipeline)
    watcher = Watcher(spec, dry_run=dry_run, jobs=jobs)
    assert spec.triggers is not None
    for trig in spec.triggers.on.values():
        click.echo(f"{spec.name}: {trig.name}: {trig.describe()}", err=True)

    stop = threading.Event()
    busy = threading.Event()
    interrupted = False
    failed: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        if busy.is_set():
            raise KeyboardInterrupt  # stop the running execution; its event runs again

    def on_start(event: Any) -> None:
        busy.set()
        click.echo(f"running {spec.name} for {event.describe()}", err=True)

    def on_seen(seen: Any) -> None:
        busy.clear()
        text = _line(seen, dry_run)
        if text:
            click.echo(text)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if once:
            seen = watcher.poll_once(on_seen, on_start)
            failed = [
                x.trigger
                for x in seen
                if x.outcome is not None and x.outcome.execution is not None and not x.outcome.ok
            ]
        else:
            watcher.run(interval, stop, on_seen, on_start)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if interrupted:
        click.echo(f"watch stopped during a run at {time.strftime('%H:%M:%S')}", err=True)
        sys.exit(130)
    if stop.is_set():
        click.echo("watch stopped", err=True)
    if failed:
        sys.exit(1)  # --once: a triggered execution failed (for cron and CI)
