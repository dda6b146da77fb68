"""Reading request bodies strictly: a missing or mistyped field is the client's error (a 400).

    rec = record(RunRecord, body)            # every field typed as its dataclass says
    project = need(body, "project", str)     # present and a str
    version = int64(body.get("version"), "version")

Bodies arrive as free JSON objects; these checks keep bad ones from reaching the store, where they
would fail as server errors (a KeyError, a TypeError, an integer the database cannot hold).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from stepline import errors

T = TypeVar("T")

_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "None": (type(None),),
    "float": (int, float),
    "int": (int,),
    "bool": (bool,),
    "dict": (dict,),
    "list": (list,),
    "Any": (object,),
}
_INT64 = 2**63


def bad(message: str) -> errors.UsageError:
    return errors.UsageError(f"bad request: {message}")


def _allowed(annotation: str) -> tuple[type, ...] | None:
    """The types an annotation such as `str | None` or `dict[str, Any]` admits (None: unknown)."""
    out: list[type] = []
    for part in annotation.split("|"):
        kind = _KINDS.get(part.strip().split("[", 1)[0])
        if kind is None:
            return None
        out.extend(kind)
    return tuple(out)


def record(cls: type[T], data: Any) -> T:
    """`cls(**data)` for a dataclass, each field checked against its annotation."""
    if not isinstance(data, dict):
        raise bad(f"a {cls.__name__} must be a JSON object")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise bad(f"unknown {cls.__name__} field(s) {', '.join(map(repr, unknown))[:200]}")
    try:
        rec = cls(**data)
    except TypeError as exc:
        raise bad(str(exc)) from None
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        allowed = _allowed(str(f.type))
        value = getattr(rec, f.name)
        if allowed is not None and not isinstance(value, allowed):
            raise bad(f"{cls.__name__}.{f.name} must be {f.type}, not {type(value).__name__}")
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            raise bad(f"{cls.__name__}.{f.name} is out of range")
    return rec


def need(body: dict[str, Any], key: str, kind: type[T]) -> T:
    """`body[key]`, which must be there and be a `kind`."""
    if key not in body:
        raise bad(f"missing field {key!r}")
    return typed(body[key], key, kind)


def typed(value: Any, what: str, kind: type[T]) -> T:
    if kind is int:
        return int64(value, what)  # type: ignore[return-value]
    if not isinstance(value, kind):
        raise bad(f"{what} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def optional(body: dict[str, Any], key: str, kind: type[T]) -> T | None:
    value = body.get(key)
    return None if value is None else typed(value, key, kind)


def int64(value: Any, what: str) -> int:
    """An integer the database can hold (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{what} must be an integer, not {type(value).__name__}")
    if not -_INT64 <= value < _INT64:
        raise bad(f"{what} is out of range")
    return value


def check_fields(cls: type, body: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """`body` as keyword updates of `cls` records: only `allowed` fields, each typed as declared."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad(f"cannot update {cls.__name__} field(s) {', '.join(unknown)[:200]}")
    kinds = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    for key, value in body.items():
        kind = _allowed(kinds.get(key, "Any"))
        if kind is not None and not isinstance(value, kind):
            raise bad(f"{cls.__name__}.{key} must be {kinds[key]}, not {type(value).__name__}")
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            raise bad(f"{cls.__name__}.{key} is out of range")
    return body
