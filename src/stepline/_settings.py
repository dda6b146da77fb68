"""Where stepline keeps things: the store, the download cache, the metadata database."""

from __future__ import annotations

import os
from pathlib import Path

STORE_DIRNAME = ".stepline"


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` that has a `.stepline/`, else a git root, else `start`."""
    here = (start or Path.cwd()).resolve()
    git_root: Path | None = None
    for folder in (here, *here.parents):
        if (folder / STORE_DIRNAME).is_dir():
            return folder
        if git_root is None and (folder / ".git").exists():
            git_root = folder
    return git_root or here


def store_dir() -> Path:
    """`$STEPLINE_DIR`, else `.stepline/` under the project root."""
    env = os.environ.get("STEPLINE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return project_root() / STORE_DIRNAME


def cache_dir() -> Path:
    """`$STEPLINE_CACHE_DIR`, else the user's cache folder for stepline."""
    env = os.environ.get("STEPLINE_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir("stepline"))


def database_url(root: Path) -> str:
    """`$STEPLINE_DATABASE_URL`, else the SQLite file inside the store."""
    return os.environ.get("STEPLINE_DATABASE_URL") or f"sqlite:///{root / 'stepline.db'}"


def artifact_dir() -> Path:
    """Where `download()` puts artifacts by default: `$STEPLINE_ARTIFACT_DIR` or `./artifacts`."""
    return Path(os.environ.get("STEPLINE_ARTIFACT_DIR") or "artifacts")
