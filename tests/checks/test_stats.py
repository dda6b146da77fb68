"""KL divergence and KS tests on data the tests generate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from stepline.checks import bonferroni_alpha, kl_divergence, ks_tests
from stepline.errors import UsageError

BOROUGHS = ["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"]


def sample(probs: list[float], n: int, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.choice(BOROUGHS, size=n, p=probs))


def test_kl_is_zero_against_itself_and_matches_scipy() -> None:
    a = sample([0.44, 0.41, 0.12, 0.02, 0.01], 5000, 1)
    b = sample([0.30, 0.30, 0.20, 0.10, 0.10], 5000, 2)
    assert kl_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    ca, cb = a.value_counts(), b.value_counts()
    index = sorted(set(ca.index) | set(cb.index))
    expected = stats.entropy(
        ca.reindex(index, fill_value=0), cb.reindex(index, fill_value=0), base=2
    )
    assert kl_divergence(a, b) == pytest.approx(expected)
    assert kl_divergence(a, b) > 0.1  # clearly shifted
    assert kl_divergence(a, b, base=math.e) == pytest.approx(expected * math.log(2))


def test_kl_aligns_categories_by_name_not_position() -> None:
    a = pd.Series(["x"] * 50 + ["y"] * 50)
    b = pd.Series(["y"] * 50 + ["x"] * 50 + ["z"] * 0)
    assert kl_divergence(a, b) == pytest.approx(0.0)
    # a category unseen in the reference: infinite divergence, finite with smoothing
    c = pd.Series(["x"] * 50 + ["w"] * 50)
    assert math.isinf(kl_divergence(c, a))
    assert math.isfinite(kl_divergence(c, a, smoothing=1))


def test_kl_is_nan_safe() -> None:
    a = pd.Series(["x", "y", None, np.nan, "x", "y"])
    b = pd.Series(["x", "y"])
    assert kl_divergence(a, b) == pytest.approx(0.0)
    assert math.isinf(kl_divergence(a, b, dropna=False))
    with pytest.raises(UsageError):
        kl_divergence(pd.Series([None, None]), b)


def test_kl_from_counts() -> None:
    assert kl_divergence({"a": 1, "b": 1}, {"b": 2, "a": 2}, counts=True) == pytest.approx(0)
    assert kl_divergence({"a": 3, "b": 1}, {"a": 1, "b": 1}, counts=True) == pytest.approx(
        stats.entropy([3, 1], [1, 1], base=2)
    )


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcde"), st.integers(1, 100), min_size=1),
    st.dictionaries(st.sampled_from("abcde"), st.integers(1, 100), min_size=1),
)
def test_kl_properties(ca: dict[str, int], cb: dict[str, int]) -> None:
    value = kl_divergence(ca, cb, counts=True)
    assert value >= -1e-12
    if set(ca) - set(cb):
        assert math.isinf(value)
    assert kl_divergence(ca, ca, counts=True) == pytest.approx(0.0, abs=1e-12)


def test_bonferroni_alpha() -> None:
    assert bonferroni_alpha(0.05, 1) == pytest.approx(0.05)
    assert bonferroni_alpha(0.05, 10) == pytest.approx(1 - 0.95**0.1)
    assert bonferroni_alpha(0.05, 10) < 0.05 / 9
    with pytest.raises(UsageError):
        bonferroni_alpha(1.5, 3)


def frames(shift: float, seed: int = 0, n: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {"a": rng.normal(0, 1, n), "b": rng.exponential(1, n), "label": rng.choice(["p", "q"], n)}
    )
    new = pd.DataFrame(
        {
            "a": rng.normal(shift, 1, n),
            "b": rng.exponential(1, n),
            "label": rng.choice(["p", "q"], n),
        }
    )
    return new, ref


def test_ks_passes_same_distribution_and_fails_a_shift() -> None:
    new, ref = frames(0.0)
    report = ks_tests(new, ref, alpha=0.05)
    assert [r.column for r in report.results] == ["a", "b"]  # numeric only by default
    assert report.passed, str(report)
    assert report.alpha_per_test == pytest.approx(bonferroni_alpha(0.05, 2))
    shifted, ref = frames(0.5)
    report = ks_tests(shifted, ref, ["a", "b"], alpha=0.05)
    assert not report.passed
    assert [r.column for r in report.failures] == ["a"]
    assert "DIFFERENT" in str(report)


def test_ks_drops_nan_and_inf() -> None:
    new, ref = frames(0.0)
    new.loc[::7, "a"] = np.nan
    new.loc[::13, "b"] = np.inf
    ref.loc[::5, "a"] = -np.inf
    report = ks_tests(new, ref, ["a", "b"])
    assert all(not math.isnan(r.pvalue) for r in report.results)
    assert report.results[0].n_a == new["a"].notna().sum()
    assert report.passed
    # a column with no finite value at all fails rather than passing with p = NaN
    new["a"] = np.nan
    assert not ks_tests(new, ref, ["a"]).passed


def test_ks_rejects_unknown_columns() -> None:
    new, ref = frames(0.0)
    with pytest.raises(UsageError, match="nope"):
        ks_tests(new, ref, ["nope"])
