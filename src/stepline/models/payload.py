"""MLflow's `/invocations` request and response formats, without any HTTP.

Requests (`Content-Type: application/json`) carry exactly one of:

    {"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]?}}
    {"dataframe_records": [{"col": value, ...}, ...]}
    {"instances": [...]}            rows (TF-serving style): lists, or dicts of named values
    {"inputs": [...] | {...}}       rows, or a dict of named columns

plus an optional `"params": {...}`. `Content-Type: text/csv` carries a CSV with a header.
The response is `{"predictions": [...]}`.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from stepline.errors import PayloadError, UnsupportedContentType
from stepline.models.signature import Schema

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _frame(data: Any, **kwargs: Any) -> Any:
    import pandas as pd

    try:
        return pd.DataFrame(data, **kwargs)
    except (ValueError, TypeError) as exc:
        raise PayloadError(f"cannot build a table from the payload: {exc}") from exc


def _rows(value: Any, schema: Schema | None, key: str) -> Any:
    """`instances` / list-`inputs`: dict rows, positional rows, or a tensor."""
    import numpy as np

    if not isinstance(value, list):
        raise PayloadError(f"'{key}' must be a list of rows (or, for 'inputs', a dict)")
    if value and all(isinstance(v, dict) for v in value):
        return _frame(value)
    if schema is not None and not schema.is_tensor and schema.column_names():
        rows = value if value and isinstance(value[0], list) else [value]
        names = schema.column_names()
        if any(not isinstance(r, list) or len(r) != len(names) for r in rows):
            raise PayloadError(
                f"each row of '{key}' must have {len(names)} values, in this order: {names}"
            )
        return _frame(rows, columns=names)
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise PayloadError(f"'{key}' is not a rectangular array: {exc}") from exc


def parse_json(body: bytes, schema: Schema | None = None) -> tuple[Any, dict[str, Any] | None]:
    """Parse a JSON `/invocations` body into (model input, params)."""
    try:
        doc = json.loads(body)
    except RecursionError:
        raise PayloadError(
            "the request body is not valid JSON: it nests arrays or objects too deeply"
        ) from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, integers over 4,300 digits
        raise PayloadError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PayloadError(
            f"the JSON body must be an object with one of {list(INPUT_KEYS)}; "
            f"got a {type(doc).__name__}"
        )
    present = [k for k in INPUT_KEYS if k in doc]
    if len(present) != 1:
        raise PayloadError(
            f"the JSON body must have exactly one of {list(INPUT_KEYS)}; "
            f"got {present or sorted(doc)}"
        )
    unknown = sorted(set(doc) - {present[0], "params"})
    if unknown:
        raise PayloadError(f"unexpected keys in the JSON body: {unknown}")
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise PayloadError("'params' must be a JSON object")
    key = present[0]
    value = doc[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise PayloadError(
                "'dataframe_split' must be an object with 'columns' and 'data' (and 'index')"
            )
        extra = sorted(set(value) - {"columns", "data", "index"})
        if extra:
            raise PayloadError(f"unexpected keys in 'dataframe_split': {extra}")
        return _frame(value["data"], columns=value.get("columns"), index=value.get("index")), params
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise PayloadError("'dataframe_records' must be a list of objects, one per row")
        return _frame(value), params
    if key == "inputs" and isinstance(value, dict):
        if all(not isinstance(v, list) for v in value.values()):
            value = {k: [v] for k, v in value.items()}
        return _frame(value), params
    return _rows(value, schema, key), params


def parse_csv(body: bytes) -> Any:
    """Parse a `text/csv` body (header row first) into a DataFrame."""
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the request body is not a readable CSV: {exc}") from exc


def parse_request(
    body: bytes, content_type: str | None, schema: Schema | None = None
) -> tuple[Any, dict[str, Any] | None]:
    """Dispatch on the Content-Type; return (model input, params)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("application/json", ""):
        return parse_json(body, schema)
    if media == "text/csv":
        return parse_csv(body), None
    raise UnsupportedContentType(
        f"Content-Type {media!r} is not supported; send application/json "
        f"(with one of {list(INPUT_KEYS)}) or text/csv"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def predictions_body(predictions: Any) -> dict[str, Any]:
    """`{"predictions": ...}` with numpy/pandas values turned into JSON values (NaN → null)."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        data: Any = predictions.to_dict(orient="records")
    elif isinstance(predictions, pd.Series | np.ndarray):
        data = predictions.tolist()
    elif isinstance(predictions, np.generic):
        data = predictions.item()
    else:
        data = predictions
    return {"predictions": _plain(data)}
