"""Drift methods: Evidently's choice per column, values against scipy, known drift flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from stepline.errors import InvalidValue
from stepline.monitor.drift import DriftReport, compare
from stepline.monitor.profile import profile_frame

from .conftest import EXAMPLE_DATA, listings


def by_column(report: DriftReport) -> dict:
    return {f.column: f for f in report.features}


def test_small_reference_uses_ks_chisquare_and_z() -> None:
    ref = listings(800, seed=1).assign(binary=lambda f: f.index % 2)
    report = compare(ref, listings(700, seed=2).assign(binary=lambda f: f.index % 2))
    methods = {f.column: f.method for f in report.features}
    assert methods == {
        "neighbourhood_group": "chisquare",
        "minimum_nights": "ks",
        "reviews_per_month": "ks",
        "binary": "z",
    }
    assert not report.drifted and report.share == 0


def test_large_reference_uses_wasserstein_and_jensenshannon() -> None:
    report = compare(listings(5000, seed=1), listings(5000, seed=2))
    assert {f.column: f.method for f in report.features} == {
        "neighbourhood_group": "jensenshannon",
        "minimum_nights": "wasserstein",
        "reviews_per_month": "wasserstein",
    }
    assert report.drifted_columns == []


@pytest.mark.parametrize("rows", [600, 8000])
def test_known_drift_is_flagged(rows: int) -> None:
    report = compare(listings(rows, seed=1), listings(rows, seed=2, shift=0.6))
    assert report.drifted_columns == ["neighbourhood_group", "minimum_nights", "reviews_per_month"]
    assert report.share == 1.0 and report.drifted


def test_one_drifted_column_of_three_is_not_dataset_drift() -> None:
    cur = listings(4000, seed=2)
    cur["reviews_per_month"] += 2.0
    report = compare(listings(4000, seed=1), cur)
    assert report.drifted_columns == ["reviews_per_month"]
    assert not report.drifted
    assert compare(listings(4000, seed=1), cur, drift_share=0.3).drifted


def test_small_data_tests_are_exactly_scipy() -> None:
    ref, cur = listings(900, seed=1), listings(500, seed=2, shift=0.1)
    got = by_column(compare(ref, cur))
    for col in ("minimum_nights", "reviews_per_month"):
        expected = stats.ks_2samp(ref[col].dropna(), cur[col].dropna()).pvalue
        assert got[col].score == pytest.approx(expected)
    # Evidently's chi²: current counts against the reference's scaled to the current size
    keys = sorted(set(ref["neighbourhood_group"]))
    r = ref["neighbourhood_group"].value_counts().reindex(keys).to_numpy(float)
    c = cur["neighbourhood_group"].value_counts().reindex(keys, fill_value=0).to_numpy(float)
    expected = stats.chisquare(c, r * c.sum() / r.sum()).pvalue
    assert got["neighbourhood_group"].score == pytest.approx(expected)


def test_large_data_distances_match_scipy_on_the_raw_values() -> None:
    ref, cur = listings(20000, seed=1), listings(15000, seed=2, shift=0.2)
    got = by_column(compare(ref, cur))
    for col in ("minimum_nights", "reviews_per_month"):
        a, b = ref[col].dropna(), cur[col].dropna()
        expected = stats.wasserstein_distance(a, b) / np.std(a)
        assert got[col].score == pytest.approx(expected, rel=0.01)
    keys = sorted(set(ref["neighbourhood_group"]))
    r = ref["neighbourhood_group"].value_counts(normalize=True).reindex(keys)
    c = cur["neighbourhood_group"].value_counts(normalize=True).reindex(keys)
    assert got["neighbourhood_group"].score == pytest.approx(distance.jensenshannon(r, c))


def test_ks_from_sketches_is_close_to_scipy() -> None:
    ref, cur = listings(20000, seed=1), listings(20000, seed=2, shift=0.02)
    got = by_column(compare(ref, cur, method="ks"))
    a, b = ref["reviews_per_month"].dropna(), cur["reviews_per_month"].dropna()
    exact = stats.ks_2samp(a, b, method="asymp")
    assert got["reviews_per_month"].method == "ks"
    assert got["neighbourhood_group"].method == "jensenshannon"  # ks is for numbers only
    assert (got["reviews_per_month"].score < 0.05) == (exact.pvalue < 0.05)


def test_psi_on_request_flags_drift_and_not_its_absence() -> None:
    same = compare(listings(5000, seed=1), listings(5000, seed=2), method="psi")
    moved = compare(listings(5000, seed=1), listings(5000, seed=2, shift=0.6), method="psi")
    assert {f.method for f in same.features} == {"psi"}
    assert not same.drifted_columns
    assert moved.drifted_columns == ["neighbourhood_group", "minimum_nights", "reviews_per_month"]
    # by hand, as Evidently: 30 equal bins over both ranges, empty bins as 0.0001
    a = listings(5000, seed=1)["reviews_per_month"].dropna()
    b = listings(5000, seed=2, shift=0.6)["reviews_per_month"].dropna()
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=30)
    pa = np.histogram(a, edges)[0] / len(a)
    pb = np.histogram(b, edges)[0] / len(b)
    pa, pb = np.where(pa == 0, 0.0001, pa), np.where(pb == 0, 0.0001, pb)
    expected = float(np.sum((pa - pb) * np.log(pa / pb)))
    assert by_column(moved)["reviews_per_month"].score == pytest.approx(expected, rel=0.02)


def test_prediction_drift_is_reported_apart_from_the_share() -> None:
    ref, cur = listings(3000, seed=1), listings(3000, seed=2)
    report = compare(
        profile_frame(ref, predictions=np.zeros(3000) + np.arange(3000) % 7),
        profile_frame(cur, predictions=np.zeros(3000) + 5 + np.arange(3000) % 7),
    )
    assert report.prediction is not None and report.prediction.drifted
    assert not report.drifted and report.share == 0
    again = DriftReport.from_dict(report.to_dict())
    assert again.prediction == report.prediction and again.features == report.features


def test_missing_columns_are_listed_and_bad_methods_refused() -> None:
    report = compare(listings(500, 1), listings(500, 2).drop(columns=["minimum_nights"]))
    assert report.missing == ["minimum_nights"]
    assert [f.column for f in report.features] == ["neighbourhood_group", "reviews_per_month"]
    with pytest.raises(InvalidValue, match="unknown drift method"):
        compare(listings(50, 1), listings(50, 2), method="magic")
    with pytest.raises(InvalidValue, match="categorical"):
        compare(listings(50, 1), listings(50, 2), method={"neighbourhood_group": "ks"})


def test_rental_samples_drift() -> None:
    """The example's two samples: sample2.csv is the drifted one."""
    if not (EXAMPLE_DATA / "sample2.csv").is_file():
        pytest.skip("examples/rental_prices/data/sample2.csv is missing")
    cols = ["price", "minimum_nights", "number_of_reviews", "neighbourhood_group", "room_type"]
    one = pd.read_csv(EXAMPLE_DATA / "sample1.csv", usecols=cols)
    two = pd.read_csv(EXAMPLE_DATA / "sample2.csv", usecols=cols)
    half = len(one) // 2
    assert not compare(one.iloc[:half], one.iloc[half:]).drifted_columns
    drifted = compare(one, two)
    assert drifted.drifted_columns, drifted.to_dict()
