"""The run filter language shared by `stepline runs ls --filter` and the web UI.

An expression is `KEY OP VALUE` with OP one of `=`, `!=`, `<`, `<=`, `>`, `>=`; the value is read
as JSON when it parses (`0.5`, `true`, `"a b"`) and as text otherwise. Several expressions are
ANDed. The result is the W&B-style filter document `Api.runs(filters=...)` takes.

>>> parse(["summary.loss<0.5", "config.lr=0.01", "state=finished"])
{'summary.loss': {'$lt': 0.5}, 'config.lr': {'$eq': 0.01}, 'state': {'$eq': 'finished'}}
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

from stepline.errors import UsageError

_OPS = {"=": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


def value(text: str) -> Any:
    """`0.5` → 0.5, `true` → True, `"x"` → 'x', anything else → the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse(exprs: Iterable[str]) -> dict[str, Any]:
    """Filter expressions → a filter document (see the module docstring).

    Each expression is parsed by `stepline.metadata.query.parse_condition`, the one grammar
    `runs ls --filter` uses too; a malformed one is a `UsageError` pointing at its position.
    """
    from stepline.metadata.query import parse_condition

    query: dict[str, Any] = {}
    for expr in exprs:
        key, op, val = parse_condition(expr.strip())
        query.setdefault(key, {})[op] = val
    return query


def split(text: str) -> list[str]:
    """A filter box's text → its expressions (spaces or commas between them; quotes keep spaces)."""
    try:
        parts = shlex.split(text.replace(",", " "))
    except ValueError as exc:
        raise UsageError(f"filter {text!r} does not parse: {exc}") from None
    # `summary.loss < 0.5` typed with spaces: glue operator tokens back to their neighbours
    out: list[str] = []
    for part in parts:
        if out and (part in _OPS or out[-1].endswith(tuple(_OPS))):
            out[-1] += part
        else:
            out.append(part)
    return out
