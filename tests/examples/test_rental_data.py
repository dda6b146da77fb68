"""The rental-prices sample generator is deterministic and plants the flaws it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

DATA = Path(__file__).resolve().parents[2] / "examples" / "rental_prices" / "data"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    subprocess.run(
        [sys.executable, str(DATA / "generate.py"), "--out", str(out)], check=True, timeout=120
    )
    return out


@pytest.mark.parametrize("name", ["sample1.csv", "sample2.csv"])
def test_regenerating_gives_identical_bytes(regenerated: Path, name: str) -> None:
    assert (regenerated / name).read_bytes() == (DATA / name).read_bytes()


def test_shipped_sample_is_small_enough() -> None:
    assert (DATA / "sample1.csv").stat().st_size < 3_000_000
    assert (DATA / "sample2.csv").stat().st_size < 3_000_000


def test_sample1_has_the_nyc_columns_and_planted_flaws() -> None:
    df = pd.read_csv(DATA / "sample1.csv")
    assert list(df.columns) == [
        "id", "name", "host_id", "host_name", "neighbourhood_group", "neighbourhood", "latitude",
        "longitude", "room_type", "price", "minimum_nights", "number_of_reviews", "last_review",
        "reviews_per_month", "calculated_host_listings_count", "availability_365",
    ]  # fmt: skip
    assert len(df) == 20_000
    assert df.duplicated().sum() > 0
    assert (df["price"] == 0).sum() > 0 and (df["price"] > 5_000).sum() > 0
    assert df["name"].isna().sum() > 0
    assert df["last_review"].isna().sum() > 0
    assert df["last_review"].isna().equals(df["reviews_per_month"].isna())
    outside = ~df["longitude"].between(-74.25, -73.50) | ~df["latitude"].between(40.5, 41.2)
    assert outside.sum() > 0
    assert set(df["neighbourhood_group"]) == {
        "Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island",
    }  # fmt: skip
    shares = df["neighbourhood_group"].value_counts(normalize=True)
    assert shares.index[0] == "Manhattan" and shares["Staten Island"] < 0.02


def test_sample2_is_shifted_beyond_the_course_kl_threshold() -> None:
    one = pd.read_csv(DATA / "sample1.csv")["neighbourhood_group"].value_counts().sort_index()
    two = pd.read_csv(DATA / "sample2.csv")["neighbourhood_group"].value_counts().sort_index()
    assert stats.entropy(two, one, base=2) > 0.2
    assert stats.entropy(one, one, base=2) == pytest.approx(0.0)


def test_small_sample_is_reproducible(tmp_path: Path) -> None:
    cmd = [sys.executable, str(DATA / "generate.py"), "--variant", "2", "--rows", "300"]
    subprocess.run([*cmd, "--out", str(tmp_path / "a.csv")], check=True, timeout=60)
    subprocess.run([*cmd, "--out", str(tmp_path / "b.csv")], check=True, timeout=60)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert len(pd.read_csv(tmp_path / "a.csv")) == 300
