"""Imports stepline once, then forks one child per job read from stdin (a JSON line).

Forking skips the interpreter start and the imports (seconds on a busy machine) so the kill -9
trials stay fast; each child is still a real process, killed for real. Children are reaped at
once (SIGCHLD ignored here), so a killed child's PID is gone as soon as it dies, as it would be
for a user's process. The child restores SIGCHLD so its own subprocesses can be waited for.
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workloads

signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.environ.update(job["env"])
        try:
            getattr(_workloads, job["task"])(**job["args"])
        finally:
            os._exit(0)
    print(pid, flush=True)
