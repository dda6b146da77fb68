"""What a user sets for env building without editing env files: constraints, URL rewrites,
wheel-only packages. Each comes from a variable and from `[tool.stepline]` in the project's
pyproject.toml (the one at the project root), the variable first::

    STEPLINE_CONSTRAINTS="numpy<2.4;pandas<3"            # `;` or newlines between entries
    STEPLINE_URL_REWRITE="https://github.com/org/repo=/path/to/checkout;https://x/y=file:///srv/y"
    STEPLINE_ONLY_BINARY=":none:"                          # allow source builds of every package

    [tool.stepline]
    constraints = ["numpy<2.4"]
    url_rewrite = { "https://github.com/org/repo" = "/path/to/checkout" }

A constraint entry that names an existing file is read as a constraints file. Nothing here runs
a process; the values are read when an env is planned, so they are part of its lock's key.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline import settings
from stepline.errors import SpecError

CONSTRAINTS_VAR = settings.CONSTRAINTS
URL_REWRITE_VAR = settings.URL_REWRITE
ONLY_BINARY_VAR = settings.ONLY_BINARY
# Packages that take minutes to compile and usually fail far from the cause when no wheel
# fits: never built from source unless STEPLINE_ONLY_BINARY says otherwise.
HEAVY_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "pyarrow",
    "h5py",
    "numba",
    "llvmlite",
    "statsmodels",
    "scikit-image",
    "torch",
    "tensorflow",
    "xgboost",
    "lightgbm",
    "opencv-python",
)
_SPLIT = re.compile(r"[;\n]")


@dataclass(frozen=True)
class Rewrite:
    """One URL rewrite rule: URLs of repository `source` (or under it) are read from `target`."""

    source: str
    target: str
    origin: str


def pyproject_file(start: Path | None = None) -> Path:
    """The project's pyproject.toml (it may not exist)."""
    from stepline._settings import project_root

    return project_root(start) / "pyproject.toml"


def tool_table(start: Path | None = None) -> dict[str, Any]:
    """`[tool.stepline]` of the project's pyproject.toml, or {} when there is none."""
    path = pyproject_file(start)
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: not a readable pyproject.toml: {exc}") from exc
    table = data.get("tool", {}).get("stepline", {})
    if not isinstance(table, dict):
        raise SpecError(f"{path}: [tool.stepline] must be a table")
    return table


def _entries(text: str) -> list[str]:
    return [part.strip() for part in _SPLIT.split(text) if part.strip()]


def _constraint_lines(entry: str, where: str) -> list[str]:
    path = Path(entry).expanduser()
    if not any(c in entry for c in "<>=!~ @") and path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        return [line.split(" #", 1)[0].strip() for line in lines if line.strip()[:1] not in "#"]
    if not re.match(r"^[A-Za-z0-9]", entry):
        raise SpecError(
            f"{where}: constraint {entry!r} is neither a requirement such as 'numpy<2.4' "
            "nor an existing constraints file"
        )
    return [entry]


def constraints(start: Path | None = None) -> list[str]:
    """Every constraint line in force: STEPLINE_CONSTRAINTS, then [tool.stepline] constraints."""
    out: list[str] = []
    for entry in _entries(settings.current().constraints):
        out += _constraint_lines(entry, CONSTRAINTS_VAR)
    listed = tool_table(start).get("constraints", [])
    if isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list):
        raise SpecError(f"{pyproject_file(start)}: [tool.stepline] constraints must be a list")
    for entry in listed:
        out += _constraint_lines(str(entry), f"{pyproject_file(start)} [tool.stepline]")
    return [line for line in dict.fromkeys(out) if line]


def uv_files_text() -> dict[str, list[str]]:
    """The contents of the files uv itself reads from UV_CONSTRAINT and UV_OVERRIDE (they
    change what a resolve gives, so they belong in the lock's key)."""
    out: dict[str, list[str]] = {}
    for var in ("UV_CONSTRAINT", "UV_OVERRIDE"):
        files = os.environ.get(var, "").split()
        texts = []
        for name in files:
            try:
                texts.append(Path(name).expanduser().read_text(encoding="utf-8"))
            except OSError:
                texts.append(f"<unreadable {name}>")
        if texts:
            out[var] = texts
    return out


def only_binary() -> tuple[str, ...]:
    """Packages resolved and installed from wheels only (STEPLINE_ONLY_BINARY: a comma list,
    `:all:`, or `:none:` for none; default HEAVY_PACKAGES)."""
    value = settings.current().only_binary
    if value is None:
        return HEAVY_PACKAGES
    value = value.strip()
    if value in (":none:", ""):
        return ()
    return tuple(p.strip() for p in value.split(",") if p.strip())


def url_rewrites(start: Path | None = None) -> list[Rewrite]:
    """The URL rewrite rules: STEPLINE_URL_REWRITE first, then [tool.stepline] url_rewrite."""
    rules: list[Rewrite] = []
    for entry in _entries(settings.current().url_rewrite):
        source, sep, target = entry.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise SpecError(
                f"{URL_REWRITE_VAR}: {entry!r} is not URL=TARGET "
                "(e.g. https://github.com/org/repo=/path/to/checkout)"
            )
        rules.append(Rewrite(source.strip(), target.strip(), URL_REWRITE_VAR))
    table = tool_table(start).get("url_rewrite", {})
    if not isinstance(table, dict):
        raise SpecError(
            f"{pyproject_file(start)}: [tool.stepline] url_rewrite must be a table of "
            '"URL" = "path or URL"'
        )
    for source, target in table.items():
        rules.append(Rewrite(str(source), str(target), f"{pyproject_file(start)} [tool.stepline]"))
    return rules
