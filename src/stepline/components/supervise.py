"""A component's processes die with the stepline that launched them.

The runner starts each command in a process group of its own (so Ctrl-C in a terminal and
`stop_group` reach everything it started), and then:

- **forwards SIGTERM and SIGHUP**: while a command runs in the main thread, those signals
  raise `Terminated` there, and the runner stops the group (SIGTERM, then SIGKILL after a grace
  period) before the run is recorded as failed and the launcher exits 128 + signal, as a shell
  does. SIGINT already arrives as KeyboardInterrupt and is handled the same way;
- **keeps a watchdog** beside each command: a tiny Python process in a session of its own that
  holds the read end of a pipe whose write end only the launcher has. When the launcher ends in
  any way, even by SIGKILL, the kernel closes that end; the watchdog reads end-of-file and stops
  the command's group (SIGTERM, then SIGKILL). A launcher that finishes normally writes one byte
  first, and the watchdog exits without signalling; one whose stop of the group was itself
  interrupted (a second SIGINT) closes its end without that byte, so the watchdog finishes it.

Why a watchdog rather than only `prctl(PR_SET_PDEATHSIG)`: the parent-death signal reaches
only the direct child (`bash -c`), not the processes it starts, it fires when the *thread* that
forked exits (steps start from a thread pool), and setting it needs a `preexec_fn`, which is
not safe in a threaded launcher. The watchdog covers the whole group, on every POSIX system.

    with Watchdog(proc.pid), forwarded_signals():
        proc.wait()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

FORWARDED = (signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 5.0
_WATCHDOG = """
import os, signal, sys, time
pgid, fd, grace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
try:
    done = os.read(fd, 1)
except OSError:
    done = b""
if done:
    sys.exit(0)
for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        sys.exit(0)
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            sys.exit(0)
        time.sleep(0.05)
"""


class Terminated(SystemExit):
    """The launcher got SIGTERM or SIGHUP while a command ran; exits 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class Watchdog:
    """Stops process group `pgid` when this process ends without `release()` (docstring)."""

    def __init__(self, pgid: int, grace: float = GRACE_SECONDS) -> None:
        read_end, self._write_end = os.pipe()
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-S", "-I", "-c", _WATCHDOG, str(pgid), str(read_end), str(grace)],
                pass_fds=(read_end,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:  # no watchdog is no reason to refuse to run the step
            self._proc = None
        finally:
            os.close(read_end)

    def release(self) -> None:
        """The command is over: let the watchdog go without signalling anything.

        Not waited for (it exits as soon as it reads the byte, even if it had not started
        yet); subprocess reaps it on a later start."""
        if self._write_end < 0:
            return
        try:
            os.write(self._write_end, b"x")
        except OSError:
            pass
        os.close(self._write_end)
        self._write_end = -1

    def abandon(self) -> None:
        """Close our end without a word, as a dead launcher would: the watchdog stops the group.

        For a command whose group outlived an interrupted stop (a second Ctrl-C, say)."""
        if self._write_end < 0:
            return
        os.close(self._write_end)
        self._write_end = -1

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def forwarded_signals() -> Iterator[None]:
    """In the main thread: SIGTERM/SIGHUP raise `Terminated` for the block (see docstring);
    elsewhere (a pipeline's worker threads, whose main thread handles signals) nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
