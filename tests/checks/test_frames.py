"""Assertion helpers: they pass on good data and name the problem on bad data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stepline.checks import (
    CheckFailed,
    check_bounds,
    check_categories,
    check_columns,
    check_kl,
    check_ks,
    check_range,
    check_row_count,
)


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3],
            "neighbourhood_group": ["Bronx", "Queens", None],
            "latitude": [40.6, 40.7, np.nan],
            "price": [10.0, 200.0, 350.0],
        }
    )


def test_check_columns(df: pd.DataFrame) -> None:
    check_columns(
        df,
        ["id", "neighbourhood_group", "latitude", "price"],
        dtypes={
            "id": "integer",
            "price": pd.api.types.is_float_dtype,
            "neighbourhood_group": "string",
        },
    )
    with pytest.raises(CheckFailed, match=r"missing \['host_id'\]"):
        check_columns(df, ["id", "host_id", "neighbourhood_group", "latitude", "price"])
    with pytest.raises(CheckFailed, match="unexpected"):
        check_columns(df, ["id", "neighbourhood_group", "latitude"])
    check_columns(df, ["id", "price"], exact=False)
    with pytest.raises(CheckFailed, match="order"):
        check_columns(df, ["price", "id", "neighbourhood_group", "latitude"])
    with pytest.raises(CheckFailed, match="'price' has dtype float64, expected integer"):
        check_columns(df, list(df.columns), dtypes={"price": "integer"})


def test_check_categories(df: pd.DataFrame) -> None:
    check_categories(df, "neighbourhood_group", ["Bronx", "Queens", "Manhattan"])
    with pytest.raises(CheckFailed, match="never seen"):
        check_categories(df, "neighbourhood_group", ["Bronx", "Queens", "Manhattan"], exact=True)
    with pytest.raises(CheckFailed, match=r"unexpected values \['Queens'\]"):
        check_categories(df, "neighbourhood_group", ["Bronx"])


def test_check_range_and_bounds(df: pd.DataFrame) -> None:
    check_range(df["price"], 10, 350)
    with pytest.raises(CheckFailed, match=r"'price': 1 of 3 values outside \[10, 300\]"):
        check_range(df["price"], 10, 300)
    check_bounds(df, {"latitude": (40.5, 41.2)})
    with pytest.raises(CheckFailed, match="missing values"):
        check_bounds(df, {"latitude": (40.5, 41.2)}, dropna=False)
    with pytest.raises(CheckFailed, match="'longitude' is missing"):
        check_bounds(df, {"longitude": (-74.25, -73.5)})
    with pytest.raises(CheckFailed, match="latitude"):
        check_bounds(df, {"latitude": (40.65, None)})


def test_check_row_count(df: pd.DataFrame) -> None:
    check_row_count(df, 2, 4)
    with pytest.raises(CheckFailed, match="3 rows"):
        check_row_count(df, 3, 1000)


def test_check_kl_and_ks() -> None:
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"g": rng.choice(["x", "y"], 1000), "v": rng.normal(0, 1, 1000)})
    b = pd.DataFrame({"g": rng.choice(["x", "y"], 1000), "v": rng.normal(0, 1, 1000)})
    assert check_kl(a, b, 0.05, column="g") < 0.05
    with pytest.raises(CheckFailed, match="KL divergence"):
        check_kl(a, b.assign(g="x"), 0.2, column="g")
    assert check_ks(a, b, ["v"]).passed
    with pytest.raises(CheckFailed, match=r"differ for \['v'\]"):
        check_ks(a, b.assign(v=b["v"] + 1), ["v"])
