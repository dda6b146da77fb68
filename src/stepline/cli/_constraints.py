"""The `--constraint` option shared by `stepline run`, `component run` and `env build`.

Each value is a requirement such as `numpy<2.4`, or a constraints file. It is added to
STEPLINE_CONSTRAINTS for this process and whatever it starts (a course root's `main.py`
hands each `mlflow.run` back to a stepline process, which must see the same constraints), so it
joins every env lock's key exactly as the setting does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from stepline.envs.settings import CONSTRAINTS_VAR

F = TypeVar("F", bound=Callable[..., Any])


def constraint_option(func: F) -> F:
    """Add `-c/--constraint` (repeatable) to a command."""
    return click.option(
        "-c",
        "--constraint",
        "constraints",
        multiple=True,
        metavar="REQ|FILE",
        help="Constrain every env resolve, e.g. -c 'numpy<2.4' (repeatable; a file of "
        f"constraints works too). Adds to {CONSTRAINTS_VAR}; part of each env's lock key.",
    )(func)


def apply_constraints(values: tuple[str, ...]) -> None:
    """Put `values` in force for this process and its children."""
    if not values:
        return
    current = os.environ.get(CONSTRAINTS_VAR, "")
    parts = [p for p in (current, *values) if p.strip()]
    os.environ[CONSTRAINTS_VAR] = ";".join(parts)
