"""Finding the `uv` executable the way the user's install provides it.

`pip install stepline` installs the `uv` package, whose binary lands in the venv's `bin/`; a user
who runs `.venv/bin/stepline` without activating the venv has no `uv` on PATH. So the binary is
looked up first through the `uv` package of the Python running stepline (`uv.find_uv_bin()`),
then on PATH. Every uv subprocess stepline starts takes its executable from `uv_bin()`.

    args = [uv_bin(), "pip", "compile", ...]
"""

from __future__ import annotations

import functools
import os
import shutil

from stepline.errors import MissingTool


@functools.lru_cache(maxsize=1)
def _found() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        pass
    else:
        try:
            path = find_uv_bin()
        except (FileNotFoundError, OSError):
            pass
        else:
            if path and os.access(path, os.X_OK):
                return os.fspath(path)
    return shutil.which("uv")


def uv_bin() -> str:
    """The path of the `uv` executable: the `uv` package's binary, else `uv` on PATH.

    Raises `MissingTool` (naming what to install) when neither exists.
    """
    path = _found()
    if path is None:
        _found.cache_clear()  # let a later call see a uv installed in the meantime
        raise MissingTool(
            "stepline builds component environments with uv, and found none: the 'uv' "
            "package is not installed in this Python and there is no 'uv' on PATH; "
            "install it with: pip install uv"
        )
    return path
