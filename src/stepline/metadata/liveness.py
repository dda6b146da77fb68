"""Which `running` runs are gone: their process died (SIGKILL, power loss) or went silent.

    dead = gone(runs)        # then mark them `crashed` (ended_at = their last heartbeat)

A run is gone when its process on this host no longer exists, or, on any host, when its
heartbeat is older than `STEPLINE_HEARTBEAT_TIMEOUT` (300 s by default): a live run refreshes
it every 30 s at most, so PID reuse or a container's new hostname cannot keep a dead run
`running`. A run called crashed that beats again goes back to `running` (see `heartbeat`).
Pure and stdlib only: both metadata writers (SQLAlchemy and `sqlite_runs`) use it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from stepline import _settings
from stepline.backends.base import RunRecord
from stepline.store.writers import hostname

HOST = hostname()


def pid_alive(pid: int) -> bool:
    """True when a process `pid` exists on this host (or one we may not signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gone(runs: Iterable[RunRecord], timeout: float | None = None) -> list[RunRecord]:
    """The runs still `running` whose process is dead or whose heartbeat is older than
    `timeout` seconds (default: this process's STEPLINE_HEARTBEAT_TIMEOUT)."""
    running = [r for r in runs if r.state == "running"]
    if not running:
        return []
    stale_before = time.time() - (_settings.heartbeat_timeout() if timeout is None else timeout)
    return [
        r
        for r in running
        if (r.heartbeat_at or r.created_at) < stale_before
        or (r.host == HOST and r.pid and not pid_alive(r.pid))
    ]
