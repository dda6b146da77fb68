"""Distribution tests for data checks: KL divergence of categories, KS on numeric columns.

Both are NaN-safe: missing values are dropped (or, for KL, optionally counted as a category),
and infinities are dropped before a KS test, so a column with gaps never yields p = NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import UsageError, require

_MISSING = "<missing>"


def _counts(values: Any, *, dropna: bool, counts: bool) -> dict[Any, float]:
    import pandas as pd

    if counts:
        items = values.items() if hasattr(values, "items") else dict(values).items()
        return {k: float(v) for k, v in items}
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if not dropna:
        series = series.astype(object).where(series.notna(), _MISSING)
    return {k: float(v) for k, v in series.value_counts(dropna=True).items()}


def kl_divergence(
    a: Any,
    b: Any,
    *,
    base: float = 2,
    dropna: bool = True,
    counts: bool = False,
    smoothing: float = 0.0,
) -> float:
    """KL(P_a || P_b) between the category frequencies of `a` and `b` (base 2 by default).

    `a`, `b`: the categorical values (a Series or any iterable), or category → count mappings
    with `counts=True`. Categories are aligned by name over the union of both sides (unlike
    `scipy.stats.entropy` on two `value_counts()`, which silently pairs them by position).
    A category present in `a` but absent from `b` gives `inf`, unless `smoothing` (a pseudo-count
    added to every category) is set. NaN is dropped, or counted as its own category with
    `dropna=False`.

    Example:
        >>> kl_divergence(data["neighbourhood_group"], ref_data["neighbourhood_group"]) < 0.2
    """
    ca = _counts(a, dropna=dropna, counts=counts)
    cb = _counts(b, dropna=dropna, counts=counts)
    categories = sorted(set(ca) | set(cb), key=str)
    pa = [ca.get(c, 0.0) + smoothing for c in categories]
    pb = [cb.get(c, 0.0) + smoothing for c in categories]
    ta, tb = sum(pa), sum(pb)
    if ta <= 0 or tb <= 0:
        raise UsageError("kl_divergence needs at least one non-missing value on each side")
    total = 0.0
    for x, y in zip(pa, pb, strict=True):
        if x == 0:
            continue
        if y == 0:
            return math.inf
        px, py = x / ta, y / tb
        total += px * math.log(px / py)
    return total / math.log(base)


def bonferroni_alpha(alpha: float, n_tests: int) -> float:
    """The per-test level `1 - (1 - alpha) ** (1 / n)` keeping the family-wise error at alpha."""
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be in (0, 1), got {alpha}")
    if n_tests < 1:
        raise UsageError("bonferroni_alpha needs at least one test")
    return 1 - (1 - alpha) ** (1 / n_tests)


@dataclass(frozen=True)
class KSResult:
    """One two-sample Kolmogorov-Smirnov test."""

    column: str
    statistic: float
    pvalue: float
    alpha: float  # the corrected per-test level
    n_a: int
    n_b: int

    @property
    def passed(self) -> bool:
        """True when the test does not reject 'same distribution' at the corrected level."""
        return not math.isnan(self.pvalue) and self.pvalue > self.alpha


@dataclass(frozen=True)
class KSReport:
    """All KS tests of `ks_tests`, with the family-wise and the corrected per-test alpha."""

    alpha: float
    alpha_per_test: float
    results: list[KSResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[KSResult]:
        return [r for r in self.results if not r.passed]

    def __str__(self) -> str:
        lines = [f"KS tests at alpha={self.alpha} (per test {self.alpha_per_test:.4g}):"]
        for r in self.results:
            verdict = "ok" if r.passed else "DIFFERENT"
            lines.append(
                f"  {r.column}: D={r.statistic:.4f} p={r.pvalue:.4g} (n={r.n_a}/{r.n_b}) {verdict}"
            )
        return "\n".join(lines)


def _finite(series: Any) -> Any:
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return values[np.isfinite(values)]


def numeric_columns(df_a: Any, df_b: Any) -> list[str]:
    """Columns numeric in both frames, in `df_a`'s order."""
    from pandas.api import types as ptypes

    return [
        str(c)
        for c in df_a.columns
        if c in df_b.columns
        and ptypes.is_numeric_dtype(df_a[c])
        and not ptypes.is_bool_dtype(df_a[c])
        and ptypes.is_numeric_dtype(df_b[c])
    ]


def ks_tests(
    df_a: Any,
    df_b: Any,
    columns: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> KSReport:
    """Two-sample KS test on each column, with a Bonferroni-style corrected alpha.

    `columns` defaults to the numeric columns both frames share. NaN and ±inf are dropped per
    column first; a column left empty on either side fails with p = NaN. The per-test level is
    `1 - (1 - alpha) ** (1 / len(columns))`.

    Example:
        >>> report = ks_tests(sample, reference, ["danceability", "energy"], alpha=0.05)
        >>> assert report.passed, str(report)
    """
    require("scipy", "ml")
    from scipy import stats

    cols = list(columns) if columns is not None else numeric_columns(df_a, df_b)
    missing = [c for c in cols if c not in df_a.columns or c not in df_b.columns]
    if missing:
        raise UsageError(f"ks_tests: columns {missing} are not in both frames")
    if not cols:
        raise UsageError("ks_tests: no numeric columns to compare")
    per_test = bonferroni_alpha(alpha, len(cols))
    results = []
    for col in cols:
        a, b = _finite(df_a[col]), _finite(df_b[col])
        if len(a) == 0 or len(b) == 0:
            results.append(KSResult(col, math.nan, math.nan, per_test, len(a), len(b)))
            continue
        res = stats.ks_2samp(a, b, alternative="two-sided")
        results.append(
            KSResult(col, float(res.statistic), float(res.pvalue), per_test, len(a), len(b))
        )
    return KSReport(alpha=alpha, alpha_per_test=per_test, results=results)


def as_counts(values: Iterable[Any] | Mapping[Any, float]) -> dict[Any, float]:
    """Category → count of `values` (NaN dropped); a mapping is returned as floats."""
    if isinstance(values, Mapping):
        return _counts(values, dropna=True, counts=True)
    return _counts(values, dropna=True, counts=False)
