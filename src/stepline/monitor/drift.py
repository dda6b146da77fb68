"""Per-column drift between a reference and a current table, from their profiles.

The method per column follows Evidently's documented default ("data drift algorithm"):

- reference of at most 1000 rows: numeric columns with more than 5 distinct values → two-sample
  Kolmogorov–Smirnov (`ks`); categorical columns, or numeric ones with at most 5 distinct values
  → chi-squared (`chisquare`), or the two-proportion Z-test (`z`) when there are at most 2;
  a column drifts when the p-value is below 0.05;
- larger references: numeric → Wasserstein distance divided by the reference's standard
  deviation (`wasserstein`), categorical → Jensen–Shannon distance (`jensenshannon`, natural
  log); a column drifts when the distance is at least 0.1;
- `psi` (population stability index, 30 bins over both ranges as Evidently, drift at ≥ 0.1)
  and every method above on request: `method="psi"` for all columns or {column: method}.

The dataset drifts when the share of drifted feature columns reaches `drift_share` (0.5, as
Evidently's DataDriftPreset). The `prediction` column is compared the same way and reported
apart (`report.prediction`); it does not count in the share.

Profiles keep every value of a column with at most 1000 of them, so small references get the
exact tests; past that, the quantile sketch (1001 quantiles) bounds the error of the CDF by
0.001, so distances and statistics agree with the raw data to about that much.

Example:
    >>> report = compare(reference_df, current_df)
    >>> report.drifted, report.share, [f.column for f in report.features if f.drifted]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from stepline.errors import InvalidValue
from stepline.monitor.profile import PREDICTION, ColumnProfile, Profile, profile_frame

#: Evidently's size split: references with more rows than this get the distances
SMALL_REFERENCE = 1000
#: numeric columns with at most this many distinct values are compared as categories
FEW_UNIQUE = 5
DEFAULT_DRIFT_SHARE = 0.5
PSI_BINS = 30
_EPS = 0.0001  # Evidently's stand-in for an empty bin

#: method → (default threshold, True when a value *below* it drifts, i.e. a p-value)
METHODS: dict[str, tuple[float, bool]] = {
    "ks": (0.05, True),
    "chisquare": (0.05, True),
    "z": (0.05, True),
    "wasserstein": (0.1, False),
    "jensenshannon": (0.1, False),
    "psi": (0.1, False),
}


@dataclass
class FeatureDrift:
    """One column's result: `score` is a p-value (ks, chisquare, z) or a distance."""

    column: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    reference_mean: float | None = None
    current_mean: float | None = None
    #: a picture of both distributions: bin or category labels and each side's shares
    bins: list[str] = field(default_factory=list)
    reference_hist: list[float] = field(default_factory=list)
    current_hist: list[float] = field(default_factory=list)

    @property
    def is_p_value(self) -> bool:
        return METHODS[self.method][1]


@dataclass
class DriftReport:
    """Drift per feature, of the predictions, and of the dataset (share of drifted features)."""

    features: list[FeatureDrift]
    prediction: FeatureDrift | None = None
    drift_share: float = DEFAULT_DRIFT_SHARE
    reference_rows: int = 0
    current_rows: int = 0
    missing: list[str] = field(default_factory=list)  # reference columns absent from current

    @property
    def drifted_columns(self) -> list[str]:
        return [f.column for f in self.features if f.drifted]

    @property
    def share(self) -> float:
        """Share of feature columns that drifted (0 when there are none)."""
        return len(self.drifted_columns) / len(self.features) if self.features else 0.0

    @property
    def drifted(self) -> bool:
        """Dataset drift: at least `drift_share` of the features drifted."""
        return bool(self.features) and self.share >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "share": self.share,
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "missing": list(self.missing),
            "features": [asdict(f) for f in self.features],
            "prediction": asdict(self.prediction) if self.prediction else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        keys = set(FeatureDrift.__dataclass_fields__)

        def feature(d: dict[str, Any]) -> FeatureDrift:
            return FeatureDrift(**{k: v for k, v in d.items() if k in keys})

        return cls(
            features=[feature(f) for f in data["features"]],
            prediction=feature(data["prediction"]) if data.get("prediction") else None,
            drift_share=float(data.get("drift_share", DEFAULT_DRIFT_SHARE)),
            reference_rows=int(data.get("reference_rows", 0)),
            current_rows=int(data.get("current_rows", 0)),
            missing=list(data.get("missing") or []),
        )


# -- distributions from profiles --------------------------------------------------------------


def _probs(col: ColumnProfile) -> Any:
    import numpy as np

    return np.linspace(0.0, 1.0, len(col.values))


def _cdf(col: ColumnProfile, x: Any) -> Any:
    """P(X <= x) for the column: a step function when exact, else through the quantiles."""
    import numpy as np

    values = np.asarray(col.values)
    if col.exact:
        return np.searchsorted(values, x, side="right") / len(values)
    probs = _probs(col)
    idx = np.searchsorted(values, x, side="right")
    inner = np.clip(idx, 1, len(values) - 1)
    x0, x1 = values[inner - 1], values[inner]
    p0, p1 = probs[inner - 1], probs[inner]
    span = np.where(x1 > x0, x1 - x0, 1.0)
    out = p0 + (p1 - p0) * np.clip((x - x0) / span, 0.0, 1.0)
    out = np.where(idx == 0, 0.0, out)
    return np.where(idx >= len(values), 1.0, out)


def _quantile(col: ColumnProfile, p: Any) -> Any:
    import numpy as np

    values = np.asarray(col.values)
    if col.exact:
        idx = np.clip(np.ceil(p * len(values)).astype(np.int64) - 1, 0, len(values) - 1)
        return values[idx]
    return np.interp(p, _probs(col), values)


def _ks(ref: ColumnProfile, cur: ColumnProfile) -> float:
    import numpy as np
    from scipy import stats

    if ref.exact and cur.exact:
        return float(stats.ks_2samp(ref.values, cur.values).pvalue)
    grid = np.union1d(ref.values, cur.values)
    d = float(np.max(np.abs(_cdf(ref, grid) - _cdf(cur, grid))))
    n, m = ref.non_null, cur.non_null
    return float(stats.kstwo.sf(d, round(n * m / (n + m))))


def _wasserstein(ref: ColumnProfile, cur: ColumnProfile) -> float:
    import numpy as np
    from scipy import stats

    if ref.exact and cur.exact:
        distance = float(stats.wasserstein_distance(ref.values, cur.values))
    else:
        grid = (np.arange(4000) + 0.5) / 4000
        distance = float(np.mean(np.abs(_quantile(ref, grid) - _quantile(cur, grid))))
    return distance / max(ref.std, 0.001)


def _counts(ref: ColumnProfile, cur: ColumnProfile) -> tuple[Any, Any]:
    """Counts per category over both columns' categories (rare ones pooled in one bucket)."""
    import numpy as np

    keys = list(dict.fromkeys([*ref.frequent, *cur.frequent]))
    r = [ref.frequent.get(k, 0) for k in keys]
    c = [cur.frequent.get(k, 0) for k in keys]
    if ref.other or cur.other:
        r.append(ref.other)
        c.append(cur.other)
    return np.asarray(r, dtype=float), np.asarray(c, dtype=float)


def _bins(ref: ColumnProfile, cur: ColumnProfile) -> tuple[Any, Any]:
    """Counts of a numeric column in `PSI_BINS` equal bins over both ranges (Evidently's)."""
    import numpy as np

    if ref.frequent and cur.frequent and ref.distinct <= FEW_UNIQUE:
        return _counts(ref, cur)
    low = min(v for v in (ref.min, cur.min) if v is not None)
    high = max(v for v in (ref.max, cur.max) if v is not None)
    edges = np.histogram_bin_edges([low, high], bins=PSI_BINS)

    def share(col: ColumnProfile) -> Any:
        below = _cdf(col, edges)
        below[0], below[-1] = 0.0, 1.0
        if col.exact:  # np.histogram's first bin is closed on the left
            values = np.asarray(col.values)
            below[0] = 0.0
            below[1:-1] = np.searchsorted(values, edges[1:-1], side="left") / len(values)
        return np.diff(below) * col.non_null

    return share(ref), share(cur)


def _categorical_counts(ref: ColumnProfile, cur: ColumnProfile) -> tuple[Any, Any]:
    if ref.kind == "numeric" and not (ref.frequent and cur.frequent):
        return _bins(ref, cur)
    return _counts(ref, cur)


def _percents(counts: Any) -> Any:
    import numpy as np

    total = counts.sum()
    out = counts / total if total else np.zeros_like(counts)
    return np.where(out == 0, _EPS, out)


def _chisquare(ref: ColumnProfile, cur: ColumnProfile) -> float:
    from scipy import stats

    r, c = _categorical_counts(ref, cur)
    keep = r > 0  # a category the reference never had: chi² is undefined, drift is certain
    if (~keep & (c > 0)).any():
        return 0.0
    expected = r[keep] * (c.sum() / r.sum())
    if len(expected) < 2:
        return 1.0
    return float(stats.chisquare(c[keep], expected).pvalue)


def _z(ref: ColumnProfile, cur: ColumnProfile) -> float:
    from scipy import stats

    r, c = _categorical_counts(ref, cur)
    n1, n2 = r.sum(), c.sum()
    if len(r) < 2 or not n1 or not n2:
        return 1.0
    p1, p2 = r[0] / n1, c[0] / n2
    pooled = (r[0] + c[0]) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    return float(2 * (1 - stats.norm.cdf(abs((p1 - p2) / spread))))


def _jensenshannon(ref: ColumnProfile, cur: ColumnProfile) -> float:
    from scipy.spatial import distance

    r, c = _categorical_counts(ref, cur)
    return float(distance.jensenshannon(_percents(r), _percents(c)))


def _psi(ref: ColumnProfile, cur: ColumnProfile) -> float:
    import numpy as np

    r, c = _categorical_counts(ref, cur) if ref.kind == "categorical" else _bins(ref, cur)
    rp, cp = _percents(r), _percents(c)
    return float(np.sum((rp - cp) * np.log(rp / cp)))


_SCORES = {
    "ks": _ks,
    "chisquare": _chisquare,
    "z": _z,
    "wasserstein": _wasserstein,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
}


def default_method(ref: ColumnProfile, reference_rows: int) -> str:
    """Evidently's choice for a column, from its type, its distinct values and the rows."""
    categorical = ref.kind == "categorical" or ref.distinct <= FEW_UNIQUE
    if reference_rows <= SMALL_REFERENCE:
        if not categorical:
            return "ks"
        return "z" if ref.distinct <= 2 else "chisquare"
    return "jensenshannon" if categorical else "wasserstein"


HIST_BINS = 20
HIST_CATEGORIES = 12


def histogram(ref: ColumnProfile, cur: ColumnProfile) -> tuple[list[str], list[float], list[float]]:
    """Labels and shares of both sides: 20 equal bins (numeric) or the top categories."""
    import numpy as np

    if not ref.non_null or not cur.non_null:
        return [], [], []
    if ref.kind == "categorical" or (ref.frequent and cur.frequent and ref.distinct <= FEW_UNIQUE):
        keys = sorted(
            set(ref.frequent) | set(cur.frequent),
            key=lambda k: -(ref.frequent.get(k, 0) / ref.non_null),
        )[:HIST_CATEGORIES]
        r = [ref.frequent.get(k, 0) / ref.non_null for k in keys]
        c = [cur.frequent.get(k, 0) / cur.non_null for k in keys]
        return keys, r, c
    low = min(v for v in (ref.min, cur.min) if v is not None)
    high = max(v for v in (ref.max, cur.max) if v is not None)
    edges = np.histogram_bin_edges([low, high], bins=HIST_BINS)

    def shares(col: ColumnProfile) -> list[float]:
        below = _cdf(col, edges)
        below[0], below[-1] = 0.0, 1.0
        return [float(v) for v in np.diff(below)]

    labels = [f"{edges[i]:.4g}–{edges[i + 1]:.4g}" for i in range(HIST_BINS)]
    return labels, shares(ref), shares(cur)


def _as_profile(data: Profile | Any) -> Profile:
    return data if isinstance(data, Profile) else profile_frame(data)


def _one(
    name: str,
    ref: ColumnProfile,
    cur: ColumnProfile,
    reference_rows: int,
    method: str | None,
    threshold: float | None,
    strict: bool = True,
) -> FeatureDrift:
    if not strict and method in ("ks", "wasserstein") and ref.kind == "categorical":
        method = None  # one method for all columns: categorical ones keep their default
    chosen = method or default_method(ref, reference_rows)
    if chosen not in METHODS:
        raise InvalidValue(f"unknown drift method {chosen!r}; use one of {sorted(METHODS)}")
    if ref.kind != cur.kind:
        raise InvalidValue(
            f"column {name!r} is {ref.kind} in the reference but {cur.kind} in the current data"
        )
    if chosen in ("ks", "wasserstein") and ref.kind == "categorical":
        raise InvalidValue(f"{chosen} compares numeric columns; {name!r} is categorical")
    default, below = METHODS[chosen]
    limit = default if threshold is None else float(threshold)
    if not ref.non_null or not cur.non_null:
        score = 1.0 if below else 0.0  # nothing to compare: no drift claimed
    else:
        score = _SCORES[chosen](ref, cur)
    if math.isnan(score):
        score = 1.0 if below else 0.0
    drifted = score < limit if below else score >= limit
    bins, ref_hist, cur_hist = histogram(ref, cur)
    return FeatureDrift(
        column=name,
        kind=ref.kind,
        method=chosen,
        score=score,
        threshold=limit,
        drifted=bool(drifted),
        reference_rows=ref.count,
        current_rows=cur.count,
        reference_mean=ref.mean,
        current_mean=cur.mean,
        bins=bins,
        reference_hist=ref_hist,
        current_hist=cur_hist,
    )


def compare(
    reference: Profile | Any,
    current: Profile | Any,
    *,
    method: str | dict[str, str] | None = None,
    threshold: float | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    columns: list[str] | None = None,
) -> DriftReport:
    """Drift of `current` against `reference` (each a Profile or a pandas DataFrame).

    `method`: None picks per column as Evidently does (see the module docstring); a name
    applies to every column, a mapping to the columns it names. `threshold`: the p-value or
    distance limit for every column (default: the method's). `columns`: the features to
    compare (default: every reference column present in current, prediction aside).
    """
    ref, cur = _as_profile(reference), _as_profile(current)
    if not 0 < drift_share <= 1:
        raise InvalidValue(f"drift_share must be in (0, 1], not {drift_share}")
    wanted = columns if columns is not None else ref.features
    missing = [c for c in wanted if c not in cur.columns or c not in ref.columns]

    strict = isinstance(method, dict)

    def method_for(name: str) -> str | None:
        return method.get(name) if isinstance(method, dict) else method

    features = [
        _one(n, ref.columns[n], cur.columns[n], ref.rows, method_for(n), threshold, strict)
        for n in wanted
        if n not in missing
    ]
    prediction = None
    if PREDICTION in ref.columns and PREDICTION in cur.columns:
        prediction = _one(
            PREDICTION,
            ref.columns[PREDICTION],
            cur.columns[PREDICTION],
            ref.rows,
            method_for(PREDICTION),
            threshold,
            strict,
        )
    return DriftReport(
        features=features,
        prediction=prediction,
        drift_share=drift_share,
        reference_rows=ref.rows,
        current_rows=cur.rows,
        missing=missing,
    )
