"""Deterministic and statistical checks of a cleaned listings sample."""

import numpy as np
import pandas as pd
import scipy.stats

COLUMNS = {
    "id": "integer", "name": "string", "host_id": "integer", "host_name": "string",
    "neighbourhood_group": "string", "neighbourhood": "string", "latitude": "float",
    "longitude": "float", "room_type": "string", "price": "number", "minimum_nights": "integer",
    "number_of_reviews": "integer", "last_review": "string", "reviews_per_month": "float",
    "calculated_host_listings_count": "integer", "availability_365": "integer",
}  # fmt: skip
KIND_CHECKS = {
    "integer": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "number": pd.api.types.is_numeric_dtype,
    "string": lambda s: pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s),
}
BOROUGHS = {"Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"}
KS_COLUMNS = [
    "latitude", "longitude", "price", "minimum_nights", "number_of_reviews",
    "reviews_per_month", "availability_365",
]  # fmt: skip


def test_column_names(data: pd.DataFrame) -> None:
    assert list(data.columns) == list(COLUMNS)


def test_column_types(data: pd.DataFrame) -> None:
    wrong = {c: str(data[c].dtype) for c, kind in COLUMNS.items() if not KIND_CHECKS[kind](data[c])}
    assert not wrong, f"columns with unexpected types: {wrong}"


def test_neighborhood_names(data: pd.DataFrame) -> None:
    assert set(data["neighbourhood_group"].unique()) == BOROUGHS


def test_room_types(data: pd.DataFrame) -> None:
    assert set(data["room_type"].unique()) <= {"Entire home/apt", "Private room", "Shared room"}


def test_proper_boundaries(data: pd.DataFrame) -> None:
    """Every listing lies in the New York City bounding box."""
    idx = data["longitude"].between(-74.25, -73.50) & data["latitude"].between(40.5, 41.2)
    assert np.sum(~idx) == 0


def test_row_count(data: pd.DataFrame, row_range: tuple[int, int]) -> None:
    low, high = row_range
    assert low < data.shape[0] < high


def test_price_range(data: pd.DataFrame, min_price: float, max_price: float) -> None:
    assert data["price"].between(min_price, max_price).all()


def test_no_duplicates(data: pd.DataFrame) -> None:
    assert not data.duplicated().any()


def test_similar_neigh_distrib(
    data: pd.DataFrame, ref_data: pd.DataFrame, kl_threshold: float
) -> None:
    """KL divergence of the borough shares against the reference stays under the threshold."""
    dist1 = data["neighbourhood_group"].value_counts()
    dist2 = ref_data["neighbourhood_group"].value_counts()
    dist1, dist2 = dist1.align(dist2, fill_value=0)
    kl = scipy.stats.entropy(dist1 + 1e-9, dist2 + 1e-9, base=2)
    print(f"KL(neighbourhood_group) = {kl:.4f} (threshold {kl_threshold})")
    assert kl < kl_threshold


def test_numeric_distributions(data: pd.DataFrame, ref_data: pd.DataFrame, ks_alpha: float) -> None:
    """Two-sample KS test per numeric column, NaN and inf dropped, Šidák-corrected alpha."""
    alpha = 1 - (1 - ks_alpha) ** (1 / len(KS_COLUMNS))
    failed = {}
    for column in KS_COLUMNS:
        a = data[column].replace([np.inf, -np.inf], np.nan).dropna()
        b = ref_data[column].replace([np.inf, -np.inf], np.nan).dropna()
        _, p_value = scipy.stats.ks_2samp(a, b)
        print(f"KS({column}): p = {p_value:.4g}")
        if not p_value > alpha:
            failed[column] = p_value
    assert not failed, f"distributions differ from the reference (alpha' = {alpha:.4g}): {failed}"
