"""Per-column profiles of a table: what drift is computed from, small whatever the row count.

A numeric column keeps count, nulls, mean, variance, min, max, its distinct count, a quantile
sketch (the exact sorted values when there are at most `EXACT_LIMIT`, else `QUANTILES + 1`
evenly spaced quantiles) and, when it has few distinct values, their frequencies. A
categorical column (strings, booleans, categories) keeps count, nulls, its distinct count and
its `TOP_K` most frequent values with their counts (the rest summed in `other`).

Example:
    >>> prof = profile_frame(df)
    >>> prof.columns["price"].mean
    >>> Profile.from_dict(json.loads(json.dumps(prof.to_dict()))) == prof
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import InvalidValue

#: columns with at most this many non-null values keep them all (drift is then exact)
EXACT_LIMIT = 1000
#: otherwise the sketch holds this many + 1 quantiles (probabilities 0, 1/Q, ..., 1)
QUANTILES = 1000
#: categorical columns keep this many most frequent values
TOP_K = 100
#: numeric columns with at most this many distinct values also keep their frequencies
FEW_DISTINCT = 20
#: the column name predictions get in a profile
PREDICTION = "prediction"

FORMAT = "stepline.profile/1"


@dataclass
class ColumnProfile:
    """One column's summary; `kind` is "numeric" or "categorical"."""

    kind: str
    count: int  # rows, nulls included
    nulls: int
    distinct: int
    mean: float | None = None
    variance: float | None = None  # population variance (ddof=0), as numpy's default
    min: float | None = None
    max: float | None = None
    exact: bool = False  # `values` holds every non-null value, sorted
    values: list[float] = field(default_factory=list)  # sorted values or quantiles
    frequent: dict[str, int] = field(default_factory=dict)  # value → count (non-null)
    other: int = 0  # non-null values not in `frequent`

    @property
    def non_null(self) -> int:
        return self.count - self.nulls

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.variance else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "distinct": self.distinct,
        }
        if self.kind == "numeric":
            out.update(
                mean=self.mean,
                variance=self.variance,
                min=self.min,
                max=self.max,
                exact=self.exact,
                values=self.values,
            )
        if self.frequent or self.kind == "categorical":
            out.update(frequent=self.frequent, other=self.other)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        try:
            return cls(
                kind=str(data["kind"]),
                count=int(data["count"]),
                nulls=int(data["nulls"]),
                distinct=int(data["distinct"]),
                mean=_opt_float(data.get("mean")),
                variance=_opt_float(data.get("variance")),
                min=_opt_float(data.get("min")),
                max=_opt_float(data.get("max")),
                exact=bool(data.get("exact", False)),
                values=[float(v) for v in data.get("values") or []],
                frequent={str(k): int(v) for k, v in (data.get("frequent") or {}).items()},
                other=int(data.get("other", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidValue(f"not a column profile: {exc}") from exc


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class Profile:
    """The profiles of a table's columns, in column order, and its row count."""

    rows: int
    columns: dict[str, ColumnProfile]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "rows": self.rows,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidValue(f"not a stepline profile (expected format {FORMAT!r})")
        return cls(
            rows=int(data["rows"]),
            columns={str(k): ColumnProfile.from_dict(v) for k, v in data["columns"].items()},
        )

    @property
    def features(self) -> list[str]:
        return [name for name in self.columns if name != PREDICTION]


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    dtype = series.dtype
    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    )


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sorted_rows(data: Any) -> Any:
    """Sort each row of the (columns, rows) array in place, in threads (numpy's sort releases
    the GIL, so a wide table uses every core)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(data), os.cpu_count() or 1, 8)
    if workers <= 1 or data.shape[1] < 50_000:
        data.sort(axis=1)
        return data
    chunks = [range(i, len(data), workers) for i in range(workers)]

    def sort_some(rows: range) -> None:
        for i in rows:
            data[i].sort()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(sort_some, chunks))
    return data


def _quantiles(values: Any, probs: Any) -> Any:
    """Quantiles of sorted `values` at `probs` (numpy's default "linear" method)."""
    import numpy as np

    position = probs * (len(values) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(values) - 1)
    return values[low] + (position - low) * (values[high] - values[low])


def _numeric_block(names: list[str], block: Any, rows: int) -> dict[str, ColumnProfile]:
    """Profile numeric columns together: one sort per column, on every core."""
    import numpy as np

    data = np.ascontiguousarray(np.asarray(block, dtype=np.float64).T)
    if not data.flags.writeable or data is block:
        data = data.copy()
    data = _sorted_rows(data)  # NaN last
    probs = np.linspace(0.0, 1.0, QUANTILES + 1)
    out: dict[str, ColumnProfile] = {}
    for j, name in enumerate(names):
        column = data[j]
        valid = rows - int(np.count_nonzero(np.isnan(column[-1:]))) if rows else 0
        if valid < rows:
            valid = int(np.searchsorted(np.isnan(column), True))
        values = column[:valid]
        prof = ColumnProfile("numeric", rows, rows - valid, 0)
        if valid:
            steps = values[1:] != values[:-1]
            prof.distinct = int(np.count_nonzero(steps)) + 1
            prof.mean = float(values.mean())
            prof.variance = float(values.var())
            prof.min = float(values[0])
            prof.max = float(values[-1])
            if valid <= EXACT_LIMIT:
                prof.exact = True
                prof.values = values.tolist()
            else:
                prof.values = _quantiles(values, probs).tolist()
            if prof.distinct <= FEW_DISTINCT:
                starts = np.concatenate(([0], np.flatnonzero(steps) + 1))
                counts = np.diff(np.concatenate((starts, [valid])))
                prof.frequent = {
                    _label(values[s].item()): int(c) for s, c in zip(starts, counts, strict=True)
                }
        out[name] = prof
    return out


def _categorical(series: Any) -> ColumnProfile:
    counts = series.value_counts(dropna=True)
    rows = len(series)
    non_null = int(counts.sum())
    top = counts.iloc[:TOP_K]
    frequent: dict[str, int] = {}
    for value, count in top.items():
        key = _label(value)
        frequent[key] = frequent.get(key, 0) + int(count)
    return ColumnProfile(
        "categorical",
        rows,
        rows - non_null,
        int(counts.size),
        frequent=frequent,
        other=non_null - int(top.sum()),
    )


def profile_frame(df: Any, predictions: Any = None) -> Profile:
    """Profile every column of DataFrame `df` (and `predictions`, as column `prediction`).

    Numeric columns are profiled as one block (a single column-wise sort); object, string,
    boolean and category columns as categorical. Datetimes are profiled as categorical.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidValue(f"profile_frame takes a pandas DataFrame, not {type(df).__name__}")
    frame = df
    if predictions is not None:
        frame = df.copy(deep=False)
        pred = pd.Series(list(predictions) if not hasattr(predictions, "ndim") else predictions)
        if len(pred) != len(df):
            raise InvalidValue(f"{len(pred)} predictions for {len(df)} rows")
        frame[PREDICTION] = pred.to_numpy()
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise InvalidValue("the table has duplicate column names")
    rows = len(frame)
    numeric = [i for i, c in enumerate(frame.columns) if _is_numeric(frame[c])]
    profiles: dict[str, ColumnProfile] = {}
    if numeric:
        block = frame.iloc[:, numeric].to_numpy(dtype="float64", na_value=float("nan"))
        profiles.update(_numeric_block([names[i] for i in numeric], block, rows))
    for i, col in enumerate(frame.columns):
        if i not in numeric:
            profiles[names[i]] = _categorical(frame[col])
    return Profile(rows=rows, columns={n: profiles[n] for n in names})
