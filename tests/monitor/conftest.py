"""Shared fixtures: rental-listing-like tables and a model package with a reference profile."""

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

EXAMPLE_DATA = Path(__file__).parents[2] / "examples" / "rental_prices" / "data"
GROUPS = np.array(["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"])
FEATURES = ["neighbourhood_group", "minimum_nights", "reviews_per_month"]


def listings(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Listings; `shift` > 0 moves minimum_nights and reviews_per_month up and the mix of
    neighbourhoods towards Manhattan."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.2, 0.2, 0.2, 0.2, 0.2]) + np.array([shift, 0, 0, 0, 0])
    frame = pd.DataFrame(
        {
            "neighbourhood_group": rng.choice(GROUPS, size=n, p=weights / weights.sum()),
            "minimum_nights": rng.integers(1, 30, size=n) + int(10 * shift),
            "reviews_per_month": rng.gamma(2.0, 1.0, size=n) + 3 * shift,
        }
    )
    frame.loc[::13, "reviews_per_month"] = np.nan
    return frame


def price_of(frame: pd.DataFrame) -> pd.Series:
    return (
        50 + 40 * (frame["neighbourhood_group"] == "Manhattan") + 2 * frame["minimum_nights"]
    ).astype("float64")


def fit(frame: pd.DataFrame) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["neighbourhood_group"]),
            ("num", SimpleImputer(strategy="median"), ["minimum_nights", "reviews_per_month"]),
        ]
    )
    model = make_pipeline(pre, RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0))
    return model.fit(frame, price_of(frame))


@pytest.fixture
def logged_model(tmp_path: Path) -> dict:
    """Train on 3000 listings (logged as `train.csv`), save the package with its reference
    profile and log it as `rf` with alias prod in project `shop`, as a pipeline step does."""
    import stepline
    from stepline import models

    train = listings(3000, seed=1)
    csv = tmp_path / "train.csv"
    train.to_csv(csv, index=False)
    with stepline.init(project="shop", job_type="prepare") as run:
        data = stepline.Artifact("train.csv", type="dataset")
        data.add_file(str(csv))
        run.log_artifact(data)
    model = fit(train)
    package = models.save(
        model, tmp_path / "pkg", input_example=train.iloc[:3], reference_data=train
    )
    with stepline.init(project="shop", job_type="train") as run:
        used = run.use_artifact("train.csv:latest")
        art = stepline.Artifact("rf", type="model_export")
        art.add_dir(str(package))
        run.log_artifact(art, aliases=["prod"])
        run_id = run.id
    return {"train": train, "model": model, "package": package, "run_id": run_id, "data": used}
