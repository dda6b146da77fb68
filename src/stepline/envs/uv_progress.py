"""Counts from uv's output lines while an env builds: packages resolved, downloaded and installed.

uv runs with `UV_NO_PROGRESS=1` and its output piped, so it prints plain lines (uv 0.13):

    Resolved 12 packages in 338ms
    Downloading numpy (15.6MiB)          # only files over about 1 MiB
     Downloaded numpy
    Prepared 2 packages in 1.89s
    Installed 12 packages in 77ms
     + numpy==2.1.3

`UvProgress.feed(line)` reads one; the counts are what a progress bar shows. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
_RESOLVED = re.compile(r"^Resolved (\d+) packages? in ")
_DOWNLOADING = re.compile(r"^Downloading (\S+) \(([\d.]+)\s*([KMGT]?i?B)\)")
_DOWNLOADED = re.compile(r"^Downloaded (\S+)")
_INSTALLED = re.compile(r"^Installed (\d+) packages? in ")
_AUDITED = re.compile(r"^Audited (\d+) packages? in ")
_PLUS = re.compile(r"^\+ (\S+)")
_BUILDING = re.compile(r"^Build(?:ing|ed|t) (\S+)")


@dataclass
class UvProgress:
    """What uv reported so far in one build (all `uv pip install` calls of it)."""

    phase: str = "resolving"  # resolving, downloading, installing, done
    packages_total: int = 0
    packages_installed: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    current: str = ""
    _sizes: dict[str, int] = field(default_factory=dict)

    def feed(self, line: str) -> bool:
        """Read one output line; True when it changed the counts."""
        text = line.strip()
        if m := _RESOLVED.match(text):
            self.packages_total += int(m[1])
            self.phase = "downloading"
            return True
        if m := _DOWNLOADING.match(text):
            size = int(float(m[2]) * _UNITS.get(m[3], 1))
            self._sizes[m[1]] = size
            self.bytes_total += size
            self.phase, self.current = "downloading", m[1]
            return True
        if m := _DOWNLOADED.match(text):
            self.bytes_done += self._sizes.get(m[1], 0)
            self.current = m[1]
            return True
        if m := _BUILDING.match(text):
            self.phase, self.current = "building", m[1]
            return True
        if text.startswith("Prepared "):
            self.phase = "installing"
            return True
        if m := _PLUS.match(text):
            self.packages_installed = min(self.packages_total, self.packages_installed + 1)
            self.current = m[1]
            return True
        if _INSTALLED.match(text) or _AUDITED.match(text):  # this install is complete
            self.packages_installed = max(self.packages_installed, self.packages_total)
            self.phase, self.current = "installed", ""
            return True
        return False

    def describe(self) -> str:
        """`12/40 packages, 15.6 MiB/80.0 MiB: numpy`."""
        parts = [f"{self.packages_installed}/{self.packages_total or '?'} packages"]
        if self.bytes_total:
            parts.append(f"{_mib(self.bytes_done)}/{_mib(self.bytes_total)} downloaded")
        text = ", ".join(parts)
        return f"{text}: {self.current}" if self.current else text


def _mib(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB"
