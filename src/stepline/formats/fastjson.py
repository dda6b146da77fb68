"""JSON for the hot paths (metric rows written and read, HTTP bodies): orjson when it is
installed, the standard library otherwise, with the same results.

    text = dumps(rows)      # compact, as json.dumps(rows, separators=(",", ":"))
    rows = loads(text)

orjson writes floats in their shortest round-trip form, as `repr` does, so a value reads back
equal. What it refuses (an int beyond 64 bits, a non-str key, NaN in text) falls back to the
standard library. Metric rows never hold NaN or infinity (`check_metric` refuses them).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

_orjson: list[ModuleType | None] = []  # imported on first use: a run that logs nothing never pays


def _fast() -> ModuleType | None:
    if not _orjson:
        try:
            import orjson
        except ImportError:  # an environment built without it: same results, slower
            _orjson.append(None)
        else:
            _orjson.append(orjson)
    return _orjson[0]


def dumps(obj: Any) -> str:
    """Compact JSON text of `obj`."""
    orjson = _fast()
    if orjson is not None:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            pass
    return json.dumps(obj, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """The value of JSON `text` (ValueError when it is not JSON). Text orjson refuses goes to
    the standard library, which also reads the NaN and Infinity that older writers may have left."""
    orjson = _fast()
    if orjson is not None:
        try:
            return orjson.loads(text)
        except ValueError:
            pass
    return json.loads(text)
