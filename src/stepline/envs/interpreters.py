"""Finding a Python interpreter on this machine for a requested version (`3.13`, `3.13.0`).

Nothing is downloaded: candidates are pyenv's versions (~/.pyenv/versions, or $PYENV_ROOT),
the interpreters uv discovers (`uv python list --only-installed`), and the current one.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from stepline.envs.uv import uv_bin
from stepline.errors import EnvError, MissingTool

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class Interpreter:
    """A Python executable and its full version."""

    path: str
    version: str

    @property
    def key(self) -> str:
        """What an env built on it depends on."""
        return f"cpython-{self.version}:{self.path}"


def current() -> Interpreter:
    """The interpreter running stepline (the base one when running inside a venv)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Interpreter(path=str(Path(base).resolve()), version=platform.python_version())


def _parse(version: str) -> tuple[int, ...] | None:
    match = _VERSION.match(version.strip())
    if not match:
        return None
    return tuple(int(g) for g in match.groups() if g is not None)


def pyenv_interpreters() -> list[Interpreter]:
    """CPython versions installed by pyenv (version read from the directory name)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found: list[Interpreter] = []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return found
    for child in children:
        version = _parse(child.name)
        if version is None or len(version) != 3:
            continue
        exe = child / "bin" / f"python{version[0]}.{version[1]}"
        if exe.is_file():
            found.append(Interpreter(path=str(exe.resolve()), version=child.name))
    return found


def uv_interpreters() -> list[Interpreter]:
    """Interpreters uv finds already installed (no downloads)."""
    try:
        proc = subprocess.run(
            [uv_bin(), "python", "list", "--only-installed", "--output-format", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        entries = json.loads(proc.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired, MissingTool):
        return []
    found: list[Interpreter] = []
    for entry in entries:
        path, version = entry.get("path"), entry.get("version", "")
        if path and entry.get("implementation", "cpython") == "cpython" and _parse(version):
            found.append(Interpreter(path=str(Path(path).resolve()), version=version))
    return found


def _matches(request: tuple[int, ...], version: str) -> bool:
    have = _parse(version)
    return have is not None and have[: len(request)] == request


def _best(request: tuple[int, ...], candidates: list[Interpreter]) -> Interpreter | None:
    matching = [c for c in candidates if _matches(request, c.version)]
    if not matching:
        return None
    return max(matching, key=lambda c: _parse(c.version) or ())


def select(request: str | None, where: str = "") -> Interpreter:
    """The interpreter for `request` (None → current). `3.13` takes the newest 3.13.x;
    `3.13.0` takes exactly 3.13.0, or else the newest 3.13.x present."""
    if request is None or not request.strip():
        return current()
    wanted = _parse(request.strip().lstrip("=").rstrip(".*"))
    label = f"{where}: " if where else ""
    if wanted is None:
        raise EnvError(f"{label}cannot read Python version {request!r}; write it as 3.13 or 3.13.0")
    me = current()
    if _matches(wanted, me.version):
        return me
    seen: dict[str, Interpreter] = {}
    for finder in (pyenv_interpreters, uv_interpreters):
        for interp in finder():
            seen.setdefault(interp.path, interp)
        candidates = list(seen.values())
        best = _best(wanted, candidates) or _best(wanted[:2], candidates)
        if best is not None:
            return best
    found = sorted({i.version for i in seen.values()} | {me.version}, key=lambda v: _parse(v) or ())
    raise EnvError(
        f"{label}no Python {request} on this machine; found: {', '.join(found)} "
        "(install it with `uv python install` or pyenv, or change the spec)"
    )


def present(minimum: tuple[int, int] = (3, 8)) -> list[Interpreter]:
    """Every interpreter on this machine (newest patch of each minor version, at least
    `minimum`), newest first: the current one, pyenv's and uv's."""
    best: dict[tuple[int, ...], Interpreter] = {}
    for interp in (current(), *pyenv_interpreters(), *uv_interpreters()):
        version = _parse(interp.version)
        if version is None or version[:2] < minimum:
            continue
        have = best.get(version[:2])
        if have is None or (_parse(have.version) or ()) < version:
            best[version[:2]] = interp
    return [best[k] for k in sorted(best, reverse=True)]
