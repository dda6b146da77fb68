"""Profiles: values against numpy/pandas, sketch accuracy, round trips, odd columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stepline.errors import InvalidValue
from stepline.monitor.profile import (
    EXACT_LIMIT,
    PREDICTION,
    QUANTILES,
    Profile,
    profile_frame,
)

from .conftest import listings


def test_numeric_summary_matches_numpy() -> None:
    frame = listings(5000, seed=3)
    prof = profile_frame(frame)
    col = prof.columns["reviews_per_month"]
    values = frame["reviews_per_month"].dropna().to_numpy()
    assert col.kind == "numeric"
    assert col.count == 5000
    assert col.nulls == int(frame["reviews_per_month"].isna().sum()) > 0
    assert col.mean == pytest.approx(values.mean())
    assert col.variance == pytest.approx(values.var())
    assert (col.min, col.max) == (values.min(), values.max())
    assert col.distinct == len(np.unique(values))
    assert not col.exact and len(col.values) == QUANTILES + 1
    probs = np.linspace(0, 1, QUANTILES + 1)
    assert np.allclose(col.values, np.quantile(values, probs))


def test_small_columns_keep_every_value_and_few_distinct_keep_counts() -> None:
    frame = pd.DataFrame({"x": [3.0, 1.0, np.nan, 2.0, 1.0], "k": [1, 1, 2, 2, 2]})
    prof = profile_frame(frame)
    assert prof.columns["x"].exact and prof.columns["x"].values == [1.0, 1.0, 2.0, 3.0]
    assert prof.columns["x"].nulls == 1 and prof.columns["x"].distinct == 3
    assert prof.columns["k"].frequent == {"1": 2, "2": 3}
    assert len(profile_frame(listings(EXACT_LIMIT, 0)).columns["minimum_nights"].values) == (
        EXACT_LIMIT
    )


def test_categorical_frequent_values_distinct_and_nulls() -> None:
    frame = listings(2000, seed=4)
    frame.loc[:9, "neighbourhood_group"] = None
    col = profile_frame(frame).columns["neighbourhood_group"]
    counts = frame["neighbourhood_group"].value_counts()
    assert col.kind == "categorical"
    assert col.nulls == 10
    assert col.distinct == frame["neighbourhood_group"].nunique() == 5
    assert col.frequent == {k: int(v) for k, v in counts.items()}
    assert col.other == 0


def test_many_categories_are_cut_to_the_top_ones() -> None:
    frame = pd.DataFrame({"id": [f"u{i % 500}" for i in range(3000)]})
    col = profile_frame(frame).columns["id"]
    assert col.distinct == 500
    assert len(col.frequent) == 100 and col.other == 3000 - sum(col.frequent.values())


def test_booleans_and_empty_columns() -> None:
    frame = pd.DataFrame({"flag": [True, False, True], "empty": [np.nan, np.nan, np.nan]})
    prof = profile_frame(frame)
    assert prof.columns["flag"].kind == "categorical"
    assert prof.columns["flag"].frequent == {"True": 2, "False": 1}
    assert prof.columns["empty"].nulls == 3 and prof.columns["empty"].mean is None


def test_predictions_become_a_column_and_profiles_round_trip_through_json() -> None:
    frame = listings(1500, seed=5)
    prof = profile_frame(frame, predictions=np.arange(1500.0))
    assert prof.features == list(frame.columns)
    assert prof.columns[PREDICTION].max == 1499.0
    again = Profile.from_dict(json.loads(json.dumps(prof.to_dict())))
    assert again == prof


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidValue):
        profile_frame([1, 2, 3])
    with pytest.raises(InvalidValue):
        profile_frame(listings(10, 0), predictions=[1.0])
    with pytest.raises(InvalidValue):
        Profile.from_dict({"format": "other"})
