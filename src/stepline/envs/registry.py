"""Listing and pruning built environments (`stepline env ls`, `stepline env prune`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from stepline.envs.build import META
from stepline.envs.paths import cache_dir, envs_dir, file_lock
from stepline.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class EnvInfo:
    """One built env, as `env ls` shows it."""

    digest: str
    path: Path
    size: int
    created: float
    last_used: float
    python: str
    role: str = "component"
    components: list[str] = field(default_factory=list)


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `90m`, `2w`, `45s` (a bare number is days) → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"cannot read duration {text!r}; write it as 30d, 12h, 90m or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def list_envs(with_size: bool = True) -> list[EnvInfo]:
    """Every completely built env, most recently used first."""
    root = envs_dir()
    out: list[EnvInfo] = []
    if not root.is_dir():
        return out
    for child in root.iterdir():
        meta_file = child / META
        if child.name.startswith(".") or not meta_file.is_file():
            continue
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError:
            continue
        used_marker = child / ".last-used"
        created = float(meta.get("created", meta_file.stat().st_mtime))
        last_used = used_marker.stat().st_mtime if used_marker.exists() else created
        users = child / ".components"
        comps = sorted(p.name for p in users.iterdir()) if users.is_dir() else []
        out.append(
            EnvInfo(
                digest=child.name,
                path=child,
                size=_size(child) if with_size else 0,
                created=created,
                last_used=last_used,
                python=str(meta.get("python", "?")),
                role=str(meta.get("role", "component")),
                components=comps,
            )
        )
    return sorted(out, key=lambda e: -e.last_used)


def prune(unused_for: float, dry_run: bool = False, now: float | None = None) -> list[EnvInfo]:
    """Delete envs not used for `unused_for` seconds (and stale half-built leftovers)."""
    now = time.time() if now is None else now
    root = envs_dir()
    removed: list[EnvInfo] = []
    for env in list_envs(with_size=True):
        if now - env.last_used < unused_for:
            continue
        removed.append(env)
        if not dry_run:
            with file_lock(root / ".locks" / f"{env.digest}.lock"):
                doomed = root / f".delete-{env.digest}"
                env.path.rename(doomed)
                shutil.rmtree(doomed, ignore_errors=True)
    if root.is_dir() and not dry_run:
        for leftover in root.glob(".build-*"):
            if now - leftover.stat().st_mtime > max(unused_for, 86400):
                shutil.rmtree(leftover, ignore_errors=True)
        if removed:
            prune_bytecode()
    return removed


def prune_bytecode() -> int:
    """Drop stored `.pyc` files no env links to any more; return how many."""
    store = cache_dir() / "pyc"
    dropped = 0
    for pyc in store.glob("*/*.pyc"):
        try:
            if pyc.stat().st_nlink == 1:
                pyc.unlink()
                dropped += 1
        except OSError:
            continue
    return dropped
