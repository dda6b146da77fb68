"""Leases: the objects a draft artifact refers to, protected from gc until it is committed.

A draft stores its files as they are added, often re-using objects that are already there, and
commits its manifest later. Between the two nothing in the metadata refers to those objects, so
gc would see garbage. Each draft therefore writes the digests it uses to a lease file,
`leases/<host>.<pid>.<random>.lease`, *before* it looks for them in the store, and removes the
lease after its commit. gc never deletes an object named in a lease of a live writer; leases of
writers that died on this host are removed, leases from other hosts expire after a day.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from stepline.store import writers

#: a lease from another machine (whose processes cannot be checked) counts this long after its
#: last write
FOREIGN_LEASE_SECONDS = 24 * 3600


class Lease:
    """One draft's claim on objects; the file appears with the first digest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / f"{writers.tag()}.lease"
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._held: set[str] = set()

    def add(self, oids: Iterable[str]) -> None:
        """Claim `oids`; on return any gc that starts sees them (the write is not buffered)."""
        with self._lock:
            new = [o for o in oids if o not in self._held]
            if not new:
                return
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="ascii")  # noqa: SIM115
            self._file.write("".join(f"{o}\n" for o in new))
            self._file.flush()
            self._held.update(new)

    def release(self) -> None:
        """Drop the claim (after the commit, or when the draft is abandoned)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
                self.path.unlink(missing_ok=True)
            self._held.clear()


def held(folder: Path) -> set[str]:
    """Every object named by a lease that still counts; leases of dead local writers are removed."""
    out: set[str] = set()
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return out
    now = time.time()
    for name in names:
        path = folder / name
        if not name.endswith(".lease"):
            continue
        who = writers.owner(name)
        if who is not None and who[0] == writers.host():
            if not writers.pid_alive(who[1]):
                path.unlink(missing_ok=True)
                continue
        else:
            try:
                if now - path.stat().st_mtime > FOREIGN_LEASE_SECONDS:
                    continue
            except FileNotFoundError:
                continue
        try:
            out.update(line for line in path.read_text(encoding="ascii").split() if line)
        except FileNotFoundError:  # released while we looked
            continue
    return out
