"""W&B-style run filters (`{"summary.loss": {"$lt": 0.5}, "state": "finished"}`) → SQL."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from stepline.errors import UsageError
from stepline.metadata import schema as t
from stepline.states import RUN_STATES

_COLUMNS = {
    "id": "id",
    "name": "name",
    "displayName": "name",
    "state": "state",
    "group": "grp",
    "job_type": "job_type",
    "jobType": "job_type",
    "created_at": "created_at",
    "createdAt": "created_at",
    "ended_at": "ended_at",
    "host": "host",
    "exit_code": "exit_code",
    "notes": "notes",
    # pipeline facts: info keys with their own indexed columns (see metadata/runs.py)
    "execution_id": "execution_id",
    "info.execution": "execution_id",
    "cache_key": "cache_key",
    "info.cache_key": "cache_key",
}
_JSON_ROOTS = {
    "config": "config",
    "summary": "summary",
    "summary_metrics": "summary",
    "info": "info",
}
_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex")
KNOWN_KEYS = "id, name, state, group, job_type, created_at, tags, config.*, summary.*, info.*"

#: the text operators of `KEY OP VALUE` conditions, longest first so `<=` wins over `<`
_TEXT_OPS = {
    "!=": "$ne",
    "<=": "$lte",
    ">=": "$gte",
    "==": "$eq",
    "=": "$eq",
    "<": "$lt",
    ">": "$gt",
}
_KEY = re.compile(r"[\w.\-]+")
CONDITION_USAGE = "write KEY OP VALUE with OP one of =, !=, <, <=, >, >= (e.g. summary.mae<0.5)"


def _syntax_error(text: str, pos: int, what: str) -> UsageError:
    return UsageError(
        f"filter {text!r}: {what} at position {pos + 1}\n  {text}\n  {' ' * pos}^\n{CONDITION_USAGE}"
    )


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_condition(text: str) -> tuple[str, str, Any]:
    """`"summary.mae<0.5"` → `("summary.mae", "$lt", 0.5)`; a malformed one names the position.

    Values are read as JSON when they parse (numbers, true, null, "quoted"), else as text.
    """
    m = _KEY.match(text)
    if not m:
        raise _syntax_error(text, 0, "expected a key such as summary.mae or config.lr")
    key, pos = m.group(), m.end()
    while pos < len(text) and text[pos] == " ":
        pos += 1
    op = next((o for o in _TEXT_OPS if text.startswith(o, pos)), None)
    if op is None:
        found = repr(text[pos]) if pos < len(text) else "the end"
        raise _syntax_error(text, pos, f"expected an operator after {key!r}, found {found}")
    pos += len(op)
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos == len(text):
        raise _syntax_error(text, pos, f"missing a value after {op!r}")
    if text[pos] in "<>=!":
        raise _syntax_error(text, pos, f"unexpected {text[pos]!r} after operator {op!r}")
    return key, _TEXT_OPS[op], _value(text[pos:].rstrip())


def _check_states(cond: Any) -> None:
    values = cond.values() if isinstance(cond, dict) else [cond]
    for value in values:
        for state in value if isinstance(value, list | tuple) else [value]:
            if isinstance(state, str) and state not in RUN_STATES:
                close = difflib.get_close_matches(state, RUN_STATES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise UsageError(f"no run state {state!r}; {hint}states: {', '.join(RUN_STATES)}")


def json_keys(filters: dict[str, Any], order: Sequence[str] = ()) -> Iterator[str]:
    """The config.*/summary.* keys a query must find in some run (not those tested by $exists)."""
    for key, cond in filters.items():
        if key in ("$and", "$or", "$nor"):
            for part in cond:
                yield from json_keys(part)
        elif (
            key.split(".", 1)[0] in ("config", "summary", "summary_metrics")
            and "." in key
            and not (isinstance(cond, dict) and "$exists" in cond)
        ):
            yield key
    for key in order:
        name = key.lstrip("+-")
        if name.split(".", 1)[0] in ("config", "summary", "summary_metrics") and "." in name:
            yield name


def json_key_present(key: str) -> Any:
    """A condition true for runs whose JSON column holds `key` (a non-null value)."""
    return _json_expr(key, "").is_not(None)


def _json_expr(key: str, sample: Any) -> Any:
    root, _, path = key.partition(".")
    if not path:
        raise UsageError(f"filter key {key!r} needs a field after the dot, like '{root}.lr'")
    col = t.runs.c[_JSON_ROOTS[root]]
    node = col[tuple(path.split("."))] if "." in path else col[path]
    if isinstance(sample, bool):
        return node.as_boolean()
    if isinstance(sample, int | float):
        return node.as_float()
    return node.as_string()


def _column(key: str, sample: Any) -> Any:
    if key in _COLUMNS:
        return t.runs.c[_COLUMNS[key]]
    if key.split(".", 1)[0] in _JSON_ROOTS:
        return _json_expr(key, sample)
    raise UsageError(f"cannot filter on {key!r}; filterable keys: {KNOWN_KEYS}")


def _tags(cond: Any) -> Any:
    text = sa.cast(t.runs.c.tags, sa.Text)

    def has(tag: str) -> Any:
        return text.like(f'%"{tag}"%')

    if isinstance(cond, dict):
        if "$in" in cond:
            return sa.or_(*(has(x) for x in cond["$in"]))
        if "$nin" in cond:
            return sa.and_(*(sa.not_(has(x)) for x in cond["$nin"]))
        if "$eq" in cond:
            return has(cond["$eq"])
        if "$ne" in cond:
            return sa.not_(has(cond["$ne"]))
        raise UsageError("tags filters take a tag, or {'$in': [...]}, '$nin', '$eq', '$ne'")
    return has(cond)


def _field(key: str, cond: Any) -> Any:
    if key == "tags":
        return _tags(cond)
    if key == "state":
        _check_states(cond)
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    clauses = []
    for op, value in cond.items():
        if op not in _OPS:
            raise UsageError(f"unknown filter operator {op!r} on {key!r}; use one of {_OPS}")
        sample = value[0] if op in ("$in", "$nin") and value else value
        if op in ("$exists", "$regex"):
            sample = ""  # test the value as text
        col = _column(key, sample)
        if op == "$eq":
            clauses.append(col.is_(None) if value is None else col == value)
        elif op == "$ne":
            clauses.append(
                col.is_not(None) if value is None else sa.or_(col != value, col.is_(None))
            )
        elif op == "$gt":
            clauses.append(col > value)
        elif op == "$gte":
            clauses.append(col >= value)
        elif op == "$lt":
            clauses.append(col < value)
        elif op == "$lte":
            clauses.append(col <= value)
        elif op == "$in":
            clauses.append(col.in_(list(value)))
        elif op == "$nin":
            clauses.append(col.not_in(list(value)))
        elif op == "$exists":
            clauses.append(col.is_not(None) if value else col.is_(None))
        elif op == "$regex":
            clauses.append(col.regexp_match(value))
    return sa.and_(*clauses)


def where(filters: dict[str, Any]) -> Any:
    """A SQL condition for a W&B-style filter document."""
    clauses = []
    for key, cond in filters.items():
        if key in ("$and", "$or", "$nor"):
            parts = [where(f) for f in cond]
            if key == "$and":
                clauses.append(sa.and_(*parts))
            elif key == "$or":
                clauses.append(sa.or_(*parts))
            else:
                clauses.append(sa.not_(sa.or_(*parts)))
        else:
            clauses.append(_field(key, cond))
    return sa.and_(sa.true(), *clauses)


def order_by(keys: Sequence[str]) -> list[Any]:
    """`["-summary.loss", "created_at"]` → ORDER BY clauses, missing values last."""
    out = []
    for key in keys:
        desc = key.startswith("-")
        name = key.lstrip("+-")
        col = _column(name, 0.0)
        out.append((col.desc() if desc else col.asc()).nulls_last())
    return out
