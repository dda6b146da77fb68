"""Deterministic and statistical checks of a cleaned listings sample."""

import pandas as pd

from stepline.checks import (
    check_bounds,
    check_categories,
    check_columns,
    check_kl,
    check_ks,
    check_range,
    check_row_count,
)


def is_text(series: pd.Series) -> bool:
    """Strings, possibly with missing values (object dtype in pandas 2, str in pandas 3)."""
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


COLUMNS = {
    "id": "integer", "name": is_text, "host_id": "integer", "host_name": is_text,
    "neighbourhood_group": is_text, "neighbourhood": is_text, "latitude": "float",
    "longitude": "float", "room_type": is_text, "price": "numeric", "minimum_nights": "integer",
    "number_of_reviews": "integer", "last_review": is_text, "reviews_per_month": "float",
    "calculated_host_listings_count": "integer", "availability_365": "integer",
}  # fmt: skip
BOROUGHS = ["Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"]
ROOM_TYPES = ["Entire home/apt", "Private room", "Shared room"]
KS_COLUMNS = [
    "latitude", "longitude", "price", "minimum_nights", "number_of_reviews",
    "reviews_per_month", "availability_365",
]  # fmt: skip


def test_column_names(data: pd.DataFrame) -> None:
    check_columns(data, list(COLUMNS))


def test_column_types(data: pd.DataFrame) -> None:
    check_columns(data, list(COLUMNS), dtypes=COLUMNS)


def test_neighborhood_names(data: pd.DataFrame) -> None:
    check_categories(data, "neighbourhood_group", BOROUGHS, exact=True)


def test_room_types(data: pd.DataFrame) -> None:
    check_categories(data, "room_type", ROOM_TYPES)


def test_proper_boundaries(data: pd.DataFrame) -> None:
    """Every listing lies in the New York City bounding box."""
    check_bounds(data, {"longitude": (-74.25, -73.50), "latitude": (40.5, 41.2)}, dropna=False)


def test_row_count(data: pd.DataFrame, row_range: tuple[int, int]) -> None:
    check_row_count(data, *row_range)


def test_price_range(data: pd.DataFrame, min_price: float, max_price: float) -> None:
    check_range(data["price"], min_price, max_price, name="price", dropna=False)


def test_no_duplicates(data: pd.DataFrame) -> None:
    assert not data.duplicated().any(), f"{data.duplicated().sum()} duplicate rows"


def test_similar_neigh_distrib(
    data: pd.DataFrame, ref_data: pd.DataFrame, kl_threshold: float
) -> None:
    """KL divergence of the borough shares against the reference stays under the threshold."""
    kl = check_kl(data, ref_data, kl_threshold, column="neighbourhood_group", smoothing=1e-9)
    print(f"KL(neighbourhood_group) = {kl:.4f} (threshold {kl_threshold})")


def test_numeric_distributions(data: pd.DataFrame, ref_data: pd.DataFrame, ks_alpha: float) -> None:
    """Two-sample KS test per numeric column (NaN and inf dropped), family-wise alpha."""
    print(check_ks(data, ref_data, KS_COLUMNS, alpha=ks_alpha))
