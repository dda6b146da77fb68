"""Assertion helpers for data tests: each raises `CheckFailed` (an AssertionError) with a
message naming the column, the offending values and what was expected, so a failing pytest
check reads as a diagnosis.

Example (a whole data_check suite):
    >>> def test_column_names(data):
    ...     check_columns(data, EXPECTED_COLUMNS)
    >>> def test_proper_boundaries(data):
    ...     check_bounds(data, {"longitude": (-74.25, -73.50), "latitude": (40.5, 41.2)})
    >>> def test_price_range(data, min_price, max_price):
    ...     check_range(data["price"], min_price, max_price)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from stepline.checks.stats import KSReport, kl_divergence, ks_tests


class CheckFailed(AssertionError):
    """A data check that did not hold (pytest reports it as a test failure)."""


def _dtype_check(kind: str) -> Callable[[Any], bool]:
    from pandas.api import types as ptypes

    checks: dict[str, Callable[[Any], bool]] = {
        "integer": ptypes.is_integer_dtype,
        "float": ptypes.is_float_dtype,
        "numeric": ptypes.is_numeric_dtype,
        "string": ptypes.is_string_dtype,
        "datetime": ptypes.is_datetime64_any_dtype,
        "bool": ptypes.is_bool_dtype,
    }
    if kind not in checks:
        raise ValueError(f"unknown dtype kind {kind!r}; use one of {sorted(checks)}")
    return checks[kind]


def check_columns(
    df: Any,
    expected: Sequence[str],
    *,
    ordered: bool = True,
    exact: bool = True,
    dtypes: Mapping[str, str | Callable[[Any], bool]] | None = None,
) -> None:
    """The frame has the `expected` columns (in order, and nothing else, by default).

    `dtypes` maps a column to a kind (`integer`, `float`, `numeric`, `string`, `datetime`,
    `bool`) or to a predicate such as `pd.api.types.is_integer_dtype`.
    """
    actual = [str(c) for c in df.columns]
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if exact and extra:
        problems.append(f"unexpected {extra}")
    if ordered and not missing and not (exact and extra):
        present = [c for c in actual if c in expected]
        if present != list(expected):
            problems.append(f"order is {present}, expected {list(expected)}")
    for col, kind in (dtypes or {}).items():
        if col not in actual:
            continue
        check = _dtype_check(kind) if isinstance(kind, str) else kind
        if not check(df[col]):
            name = kind if isinstance(kind, str) else getattr(kind, "__name__", "the predicate")
            problems.append(f"column {col!r} has dtype {df[col].dtype}, expected {name}")
    if problems:
        raise CheckFailed("columns do not match: " + "; ".join(problems))


def check_categories(
    df: Any, column: str, allowed: Iterable[Any], *, exact: bool = False, dropna: bool = True
) -> None:
    """Every value of `column` is in `allowed` (and, with `exact`, every allowed value occurs)."""
    allowed_set = set(allowed)
    series = df[column].dropna() if dropna else df[column]
    seen = set(series.unique())
    unknown = sorted(seen - allowed_set, key=str)
    problems = []
    if unknown:
        problems.append(f"unexpected values {unknown}")
    if exact:
        absent = sorted(allowed_set - seen, key=str)
        if absent:
            problems.append(f"never seen {absent}")
    if problems:
        raise CheckFailed(
            f"column {column!r}: "
            + "; ".join(problems)
            + f" (allowed: {sorted(allowed_set, key=str)})"
        )


def check_range(
    values: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    name: str | None = None,
    dropna: bool = True,
) -> None:
    """All `values` (a Series) lie in [low, high]; NaN is ignored unless `dropna=False`."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    label = name or (str(series.name) if series.name is not None else "values")
    if not dropna and series.isna().any():
        raise CheckFailed(f"{label!r} has {int(series.isna().sum())} missing values")
    present = series.dropna()
    bad = pd.Series(False, index=present.index)
    if low is not None:
        bad |= present < low
    if high is not None:
        bad |= present > high
    if bad.any():
        examples = present[bad].head(5).tolist()
        raise CheckFailed(
            f"{label!r}: {int(bad.sum())} of {len(present)} values outside "
            f"[{low}, {high}], e.g. {examples}"
        )


def check_bounds(
    df: Any, bounds: Mapping[str, tuple[float | None, float | None]], *, dropna: bool = True
) -> None:
    """Each column lies within its (low, high) bounds, e.g. a latitude/longitude box."""
    failures = []
    for column, (low, high) in bounds.items():
        if column not in df.columns:
            failures.append(f"column {column!r} is missing")
            continue
        try:
            check_range(df[column], low, high, name=column, dropna=dropna)
        except CheckFailed as exc:
            failures.append(str(exc))
    if failures:
        raise CheckFailed("; ".join(failures))


def check_row_count(df: Any, low: int | None = None, high: int | None = None) -> None:
    """low < len(df) < high (strict, as the course's `test_row_count`)."""
    n = len(df)
    if (low is not None and n <= low) or (high is not None and n >= high):
        raise CheckFailed(f"{n} rows, expected more than {low} and fewer than {high}")


def check_kl(
    a: Any, b: Any, threshold: float, *, column: str | None = None, **kwargs: Any
) -> float:
    """KL divergence of the categories of `a` vs `b` (or `a[column]` vs `b[column]`) < threshold.

    Returns the divergence so the caller can log it.
    """
    if column is not None:
        a, b = a[column], b[column]
    value = kl_divergence(a, b, **kwargs)
    if not value < threshold:
        label = f"{column!r}: " if column else ""
        raise CheckFailed(f"{label}KL divergence {value:.4f} is not below {threshold}")
    return value


def check_ks(
    df_a: Any, df_b: Any, columns: Sequence[str] | None = None, alpha: float = 0.05
) -> KSReport:
    """Every column passes a KS test against the reference; returns the report."""
    report = ks_tests(df_a, df_b, columns, alpha)
    if not report.passed:
        failed = [r.column for r in report.failures]
        raise CheckFailed(f"distributions differ for {failed}\n{report}")
    return report
