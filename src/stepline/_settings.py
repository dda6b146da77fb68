"""Where stepline keeps things: the store, the download cache, the metadata database.

Each function takes the `Settings` it works from (default: `settings.current()`); none reads
the environment itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stepline.settings import HEARTBEAT_TIMEOUT, RUN_DEFAULTS, Settings, current

__all__ = ["HEARTBEAT_TIMEOUT", "STORE_DIRNAME", "StoreLocation"]

STORE_DIRNAME = ".stepline"


@dataclass(frozen=True)
class StoreLocation:
    """Where the store is and why: `how` is `STEPLINE_DIR`, `found`, `git root` or `cwd`."""

    path: Path
    how: str

    @property
    def exists(self) -> bool:
        """True once the store folder has been created."""
        return self.path.is_dir()


def project_root(start: Path | None = None) -> Path:
    """The project folder for `start` (default: the working folder), found as git finds `.git`.

    Walk up from `start`: the first folder holding a `.stepline/` store wins, and the walk stops
    at the first git root (a folder with `.git`), so a store in a folder above the repository
    (a shared scratch folder, the home folder) is never used. Outside git, the walk goes to the
    filesystem root; with no store anywhere, the project folder is `start`.
    """
    return _find_root(start)[0]


def _find_root(start: Path | None = None) -> tuple[Path, str]:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STORE_DIRNAME).is_dir():
            return folder, "found"
        if (folder / ".git").exists():
            return folder, "git root"
    return here, "cwd"


def locate_store(start: Path | None = None, settings: Settings | None = None) -> StoreLocation:
    """`$STEPLINE_DIR`, else `.stepline/` under `project_root(start)`, and how it was chosen."""
    given = (settings or current()).store_dir
    if given is not None:
        return StoreLocation(given, "STEPLINE_DIR")
    root, how = _find_root(start)
    return StoreLocation(root / STORE_DIRNAME, how)


def store_dir(settings: Settings | None = None) -> Path:
    """`$STEPLINE_DIR`, else `.stepline/` under the project root (see `project_root`)."""
    return locate_store(settings=settings).path


def ensure_store(path: Path) -> bool:
    """Create the store folder if missing; True when this call created it.

    A new store keeps itself out of git (its `.gitignore` holds `*`) and says where it is on
    the `stepline.store` logger, which the CLI prints as one line on stderr.
    """
    if path.is_dir():
        return False
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# stepline's store: runs, artifacts and objects, kept out of git\n*\n")

    import logging  # only when a store is made: a run's start imports no logging

    logging.getLogger("stepline.store").info("created a stepline store in %s", path)
    return True


def cache_dir(settings: Settings | None = None) -> Path:
    """`$STEPLINE_CACHE_DIR`, else the user's cache folder for stepline."""
    given = (settings or current()).cache_dir
    if given is not None:
        return given
    import platformdirs

    return Path(platformdirs.user_cache_dir("stepline"))


def database_url(root: Path, default: bool = False, settings: Settings | None = None) -> str:
    """`$STEPLINE_DATABASE_URL`, else (or with `default`) the SQLite file inside the store."""
    given = None if default else (settings or current()).database_url
    return given or f"sqlite:///{root / 'stepline.db'}"


def artifact_dir(settings: Settings | None = None) -> Path:
    """Where `download()` puts artifacts by default: `$STEPLINE_ARTIFACT_DIR` or `./artifacts`."""
    return (settings or current()).artifact_dir


def describe(
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """What `stepline info` shows: the store, how it was found, and the run defaults in effect.

    >>> describe()["store"]
    '/home/me/repo/.stepline'
    """

    env = os.environ if environ is None else environ  # which twin a default came from
    settings = Settings.from_env(env)
    where = locate_store(start, settings)
    defaults: dict[str, object] = {}
    for key, suffix in RUN_DEFAULTS[:3]:
        ours, theirs = env.get(f"STEPLINE_{suffix}"), env.get(f"WANDB_{suffix}")
        value = (theirs if ours and theirs and ours != theirs else ours or theirs) or None
        source = f"WANDB_{suffix}" if value and value == theirs else f"STEPLINE_{suffix}"
        defaults[key] = {"value": value, "from": source if value else None}
    project = defaults["project"]
    if isinstance(project, dict) and project["value"] is None:
        project.update(value="uncategorized", **{"from": "built-in default"})
    return {
        "store": str(where.path),
        "found_by": where.how,
        "exists": where.exists,
        "project_root": str(where.path.parent) if where.how != "STEPLINE_DIR" else None,
        "database": re.sub(
            r"(://[^:/@]+:)[^@]*@", r"\1***@", database_url(where.path, settings=settings)
        ),
        "cache": str(cache_dir(settings)),
        "defaults": defaults,
    }


def link_types(settings: Settings | None = None) -> tuple[str, ...]:
    """How downloads are made, in order of preference: `$STEPLINE_LINK_TYPE`, else reflink,copy.

    `hardlink` and `symlink` share the store's only copy of a file: an edit through them (as root,
    or after a chmod) damages the store. They are used only when listed here.
    """
    return (settings or current()).link_types()


def heartbeat_timeout(settings: Settings | None = None) -> float:
    """`$STEPLINE_HEARTBEAT_TIMEOUT` in seconds (default 300): when a silent run is crashed."""
    return (settings or current()).heartbeat_timeout


def heartbeat_interval(settings: Settings | None = None) -> float:
    """How often a live run refreshes its heartbeat: a fifth of the timeout, at most 30 s."""
    return (settings or current()).heartbeat_interval
