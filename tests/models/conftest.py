"""Shared fixtures: a small fitted rental-price-like pipeline and its data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

FIXTURES = Path(__file__).parent / "fixtures"
GROUPS = np.array(["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"])


def make_frame(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "neighbourhood_group": rng.choice(GROUPS, size=n),
            "minimum_nights": rng.integers(1, 30, size=n).astype("int64"),
            "reviews_per_month": rng.gamma(2.0, 1.0, size=n),
        }
    )
    frame.loc[::11, "reviews_per_month"] = np.nan
    price = 50 + 40 * (frame["neighbourhood_group"] == "Manhattan") + 2 * frame["minimum_nights"]
    return frame, price.astype("float64")


def make_model(frame: pd.DataFrame, price: pd.Series, trees: int = 5) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["neighbourhood_group"]),
            ("num", SimpleImputer(strategy="median"), ["minimum_nights", "reviews_per_month"]),
        ]
    )
    model = make_pipeline(
        pre, RandomForestRegressor(n_estimators=trees, max_depth=4, random_state=0)
    )
    return model.fit(frame, price)


@pytest.fixture(scope="session")
def rental() -> tuple[pd.DataFrame, pd.Series, Pipeline]:
    frame, price = make_frame()
    return frame, price, make_model(frame, price)
