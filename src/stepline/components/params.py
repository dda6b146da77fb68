"""Parameter validation and command rendering, as `mlflow run` does it (plus type checks).

Values are stringified, validated against their declared type, shell-quoted for the place each
placeholder stands in (`shellquote.py`: bare as MLflow does, and also inside quotes), then
substituted into the entry point's command. Parameters the entry point does not declare are
appended as `--key value`; their names must match `[A-Za-z_][A-Za-z0-9_.-]*`::

    >>> ep = EntryPoint("main", "python run.py {x}", {"x": Parameter("x", "float")})
    >>> render(ep, {"x": 2, "extra": "a b"}).command
    "python run.py 2 --extra 'a b'"
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline.components.mlproject import PARAM_NAME, EntryPoint, Parameter
from stepline.components.shellquote import render_template
from stepline.errors import InvalidParameter

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True)
class Rendered:
    """Resolved parameter values (unquoted strings) and the final command line."""

    parameters: dict[str, str]
    command: str


def stringify(value: Any) -> str:
    """The string MLflow would pass for `value` (`42` → `'42'`, `True` → `'True'`)."""
    return value if isinstance(value, str) else str(value)


def check_value(param: Parameter, value: str, where: str, cwd: Path | None = None) -> str:
    """Validate one value against its type; return the value to pass (paths made absolute)."""
    ptype = param.type
    if ptype in ("float", "number"):
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameter(
                f"{where}: parameter '{param.name}' is a {ptype}, got {value!r}; "
                "give a number such as 0.3"
            ) from None
        if math.isnan(number):
            raise InvalidParameter(f"{where}: parameter '{param.name}' is NaN; give a number")
        return value
    if ptype == "int":
        try:
            int(value)
        except ValueError:
            raise InvalidParameter(
                f"{where}: parameter '{param.name}' is an int, got {value!r}; "
                "give a whole number such as 42"
            ) from None
        return value
    if ptype == "uri":
        if not _SCHEME.match(value) or len(value.split(":", 1)[0]) < 2:
            raise InvalidParameter(
                f"{where}: parameter '{param.name}' is a uri and needs a scheme, got {value!r}; "
                "e.g. https://host/file.csv or file:///abs/path"
            )
        return value
    if ptype == "path":
        local = value
        if value.startswith("file://"):
            local = value[len("file://") :]
        elif _SCHEME.match(value) and len(value.split(":", 1)[0]) > 1:
            raise InvalidParameter(
                f"{where}: parameter '{param.name}' is a path; remote paths ({value!r}) are not "
                "downloaded by stepline: give a local file or declare the parameter as uri"
            )
        base = cwd or Path.cwd()
        absolute = Path(os.path.abspath(base / Path(local).expanduser()))
        if not absolute.exists():
            raise InvalidParameter(
                f"{where}: parameter '{param.name}' is a path and {absolute} does not exist"
            )
        return str(absolute)
    return value


def resolve(
    entry_point: EntryPoint,
    given: Mapping[str, Any] | None,
    where: str = "",
    cwd: Path | None = None,
) -> dict[str, str]:
    """Fill defaults, check required and types; declared parameters first, extras after."""
    given = dict(given or {})
    label = where or f"entry point '{entry_point.name}'"
    resolved: dict[str, str] = {}
    for name, param in entry_point.parameters.items():
        raw = given.pop(name, None)
        if raw is None:
            raw = param.default
        if raw is None:
            raise InvalidParameter(
                f"{label}: parameter '{name}' is required (no default); "
                f"pass it as -P {name}=VALUE ({param.type})"
            )
        resolved[name] = check_value(param, stringify(raw), label, cwd)
    for name, raw in given.items():
        if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
            raise InvalidParameter(
                f"{label}: parameter name {name!r} is not allowed; names match "
                "[A-Za-z_][A-Za-z0-9_.-]* (a letter or _, then letters, digits, _ . -), "
                f"declared: {', '.join(entry_point.parameters) or 'none'}"
            )
        resolved[name] = stringify(raw) if raw is not None else ""
    for name, value in resolved.items():
        if "\0" in value:
            raise InvalidParameter(
                f"{label}: the value of parameter '{name}' contains a NUL character, "
                "which no command line can carry; remove it"
            )
    return resolved


def render_command(entry_point: EntryPoint, resolved: Mapping[str, str], where: str = "") -> str:
    """Quote the values for their places, substitute them, append undeclared ones."""
    declared = {k: v for k, v in resolved.items() if k in entry_point.parameters}
    extras = {k: v for k, v in resolved.items() if k not in entry_point.parameters}
    label = where or f"entry point '{entry_point.name}'"
    return render_template(entry_point.command, declared, extras, label)


def render(
    entry_point: EntryPoint,
    given: Mapping[str, Any] | None = None,
    where: str = "",
    cwd: Path | None = None,
) -> Rendered:
    """Resolve then render; see the module docstring."""
    resolved = resolve(entry_point, given, where, cwd)
    return Rendered(parameters=resolved, command=render_command(entry_point, resolved, where))
