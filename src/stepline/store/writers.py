"""Who is writing: temp files and leases are named `<host>.<pid>.<random>` so leftovers of a dead
writer on this host can be recognised (and removed) by the next one."""

from __future__ import annotations

import itertools
import os
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def hostname() -> str:
    """This machine's name, as `socket.gethostname()` gives it (without importing socket)."""
    try:
        return os.uname().nodename
    except AttributeError:  # pragma: no cover - not on POSIX
        import socket

        return socket.gethostname()


def host() -> str:
    """This machine's name, reduced to characters safe in a file name (no dots: they separate)."""
    return _UNSAFE.sub("_", hostname())[:64] or "host"


_names = itertools.count()
_prefix: tuple[int, str] = (-1, "")


def tag() -> str:
    """A unique name for something this process writes: `<host>.<pid>.<random>`.

    The random part is drawn once per process (again after a fork) and then counted up, so a
    download of many files does not pay for a random draw and a host lookup per file."""
    global _prefix
    pid = os.getpid()
    if _prefix[0] != pid:
        _prefix = (pid, f"{host()}.{pid}.{os.urandom(5).hex()}")
    return f"{_prefix[1]}{next(_names):06x}"


def owner(name: str) -> tuple[str, int] | None:
    """(host, pid) of a name made by `tag()` (any suffix after it allowed); None for other names."""
    parts = name.split(".")
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def dead_here(name: str) -> bool:
    """True for a name written by a process of this host that no longer runs."""
    who = owner(name)
    return who is not None and who[0] == host() and not pid_alive(who[1])
