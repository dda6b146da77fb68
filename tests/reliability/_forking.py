"""The reliability suite's process forker (see `_zygote.py`) and its helpers, for `import _forking`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


class Forker:
    """Starts workloads (`_workloads.py`) in forked processes of one warm interpreter."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def fork(self, task: str, **args: Any) -> int:
        """Start `task(**args)` in a new process; returns its PID."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        env = {k: v for k, v in os.environ.items() if k.startswith(("STEPLINE_", "WANDB_"))}
        self.proc.stdin.write(json.dumps({"task": task, "env": env, "args": args}) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def wait_for(path: Path, timeout: float = 120.0, failed: Path | None = None) -> str:
    """The contents of `path` once a child has written it (fails early if `failed` appears)."""
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.stat().st_size:
        if failed is not None and failed.exists():
            raise AssertionError(f"{failed.name}:\n{failed.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.005)
    return path.read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} still exists {timeout}s after SIGKILL")
        time.sleep(0.002)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, found through /proc (their parent links)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
