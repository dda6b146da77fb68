"""Run ids (8 base-36 characters) and the rules for names, labels and aliases. Pure.

Display names (`adjective-noun-N`) are given by the metadata store when it creates a run, from
the project's run counter: `run_name` and `is_auto_name` live in `metadata/run_names.py`.
"""

from __future__ import annotations

import random
import re

from stepline.errors import InvalidName
from stepline.metadata.run_names import is_auto_name, run_name
from stepline.store.manifest import control_char

__all__ = [
    "check_alias",
    "check_label",
    "check_name",
    "check_run_id",
    "is_auto_name",
    "new_run_id",
    "run_name",
]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
#: the OS's randomness, as `secrets.choice` uses (without importing hmac and hashlib for it)
_RANDOM = random.SystemRandom()

_NAME_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def new_run_id() -> str:
    """Eight random base-36 characters."""
    return "".join(_RANDOM.choice(_ALPHABET) for _ in range(8))


def check_label(value: str | None, what: str) -> str | None:
    """Free-form one-line labels (run name, group, job type, tag, artifact type): no control
    characters (NUL, newline, tab, ...), which no database column or terminal line holds safely."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidName(f"{what} {value!r} must be a string")
    bad = control_char(value)
    if bad is not None:
        raise InvalidName(
            f"{what} {value!r} contains the control character {bad!r}; use printable characters"
            " only (no NUL, newline, tab, ...)"
        )
    return value


def check_name(name: str, what: str = "artifact name") -> str:
    """Names of projects and artifacts: letters, digits, `_ - .`, at most 128 characters."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidName(
            f"{what} {name!r} is not valid: use 1-128 letters, digits, '_', '-' or '.'"
            " (no '/', ':' or spaces)"
        )
    return name


def check_alias(alias: str) -> str:
    """Aliases are names too; `vN` is reserved for versions."""
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias):
        raise InvalidName(
            f"alias {alias!r} is not valid: use 1-128 letters, digits, '_', '-' or '.'"
            " (':' and '/' are not allowed)"
        )
    if re.fullmatch(r"v\d+", alias):
        raise InvalidName(f"alias {alias!r} looks like a version number; pick another name")
    return alias


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidName(
            f"run id {run_id!r} is not valid: use letters, digits, '_' or '-' (no / \\ # ? % :)"
        )
    return run_id
