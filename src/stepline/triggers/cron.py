"""Cron schedules (5 fields, UTC) through `croniter`.

check("0 3 * * *")                      # raises ValueError when malformed
last_tick("0 3 * * *", now=time.time())  # the newest tick at or before now (epoch seconds)
"""

from __future__ import annotations

from datetime import datetime, timezone

from stepline.errors import require


def check(expr: str) -> None:
    """Raise `ValueError` unless `expr` is a 5-field cron expression."""
    if len(expr.split()) != 5:
        raise ValueError(
            f"{expr!r}: a cron schedule has 5 fields (minute hour day month weekday), "
            'e.g. "0 3 * * *"'
        )
    require("croniter", "triggers")
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise ValueError(f"{expr!r}: not a valid cron expression")


def last_tick(expr: str, now: float) -> float:
    """The newest time at or before `now` (epoch seconds) that `expr` matches, in UTC."""
    require("croniter", "triggers")
    from croniter import croniter

    start = datetime.fromtimestamp(now, tz=timezone.utc)
    it = croniter(expr, start)
    if croniter.match(expr, start.replace(second=0, microsecond=0)) and start.second == 0:
        return start.replace(microsecond=0).timestamp()
    return float(it.get_prev(float))


def next_tick(expr: str, now: float) -> float:
    """The first time after `now` that `expr` matches, in UTC."""
    require("croniter", "triggers")
    from croniter import croniter

    return float(croniter(expr, datetime.fromtimestamp(now, tz=timezone.utc)).get_next(float))


def iso(ts: float) -> str:
    """`2026-12-01T03:00:00Z`."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
