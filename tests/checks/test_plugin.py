"""The pytest plugin, run by pytest on a generated data_check project (local CSV files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

COLUMNS = ["id", "neighbourhood_group", "latitude", "longitude", "price"]

TESTS = """
from stepline.checks import (check_bounds, check_categories, check_columns, check_kl,
                             check_range, check_row_count)

def test_column_names(data):
    check_columns(data, {columns!r})

def test_neighborhood_names(data):
    check_categories(data, "neighbourhood_group",
                     ["Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"])

def test_proper_boundaries(data):
    check_bounds(data, {{"longitude": (-74.25, -73.50), "latitude": (40.5, 41.2)}})

def test_similar_neigh_distrib(data, ref_data, kl_threshold):
    check_kl(data, ref_data, kl_threshold, column="neighbourhood_group")

def test_row_count(data):
    check_row_count(data, 100, 1_000_000)

def test_price_range(data, min_price, max_price):
    check_range(data["price"], min_price, max_price)
"""


def listings(n: int, seed: int, probs: list[float] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = ["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"]
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "neighbourhood_group": rng.choice(groups, n, p=probs or [0.44, 0.41, 0.12, 0.02, 0.01]),
            "latitude": rng.uniform(40.55, 41.1, n),
            "longitude": rng.uniform(-74.2, -73.6, n),
            "price": rng.uniform(10, 350, n).round(),
        }
    )


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["stepline.checks.plugin"]\n')
    pytester.makepyfile(test_data=TESTS.format(columns=COLUMNS))
    listings(500, 1).to_csv(pytester.path / "sample.csv", index=False)
    listings(500, 2).to_csv(pytester.path / "reference.csv", index=False)
    shifted = listings(500, 3, probs=[0.1, 0.1, 0.1, 0.35, 0.35])
    shifted.loc[0, "latitude"] = 39.0
    shifted.to_csv(pytester.path / "shifted.csv", index=False)
    return pytester


ARGS = ["--kl_threshold", "0.2", "--min_price", "10", "--max_price", "350"]


def test_good_sample_passes(project: pytest.Pytester) -> None:
    result = project.runpytest("--csv", "sample.csv", "--ref", "reference.csv", *ARGS)
    result.assert_outcomes(passed=6)


def test_shifted_sample_fails_the_distribution_and_bounds_tests(project: pytest.Pytester) -> None:
    result = project.runpytest("--csv", "shifted.csv", "--ref", "reference.csv", *ARGS)
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["*'latitude': 1 of 500*", "*KL divergence*is not below 0.2*"])


def test_missing_option_fails_with_usage(project: pytest.Pytester) -> None:
    result = project.runpytest("--csv", "sample.csv", "--ref", "reference.csv", "-k", "price_range")
    result.assert_outcomes(errors=1)  # a fixture failure: the test never ran
    result.stdout.fnmatch_lines(["*this test needs --min_price*"])


def test_project_specific_options(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        'pytest_plugins = ["stepline.checks.plugin"]\n'
        "from stepline.checks.plugin import add_options, frame_fixture\n"
        "def pytest_addoption(parser):\n"
        "    add_options(parser, {'sample_artifact': str, 'reference_artifact': str})\n"
        "sample = frame_fixture('sample_artifact', 'sample')\n"
        "reference = frame_fixture('reference_artifact', 'reference')\n"
    )
    pytester.makepyfile(
        test_ks="from stepline.checks import check_ks\n"
        "def test_ks(sample, reference, ks_alpha):\n"
        "    check_ks(sample, reference, ['latitude', 'longitude', 'price'], ks_alpha)\n"
    )
    listings(400, 1).to_csv(pytester.path / "a.csv", index=False)
    listings(400, 2).to_csv(pytester.path / "b.csv", index=False)
    result = pytester.runpytest(
        "--sample_artifact",
        "a.csv",
        "--reference_artifact",
        "file://" + str(pytester.path / "b.csv"),
        "--ks_alpha",
        "0.05",
    )
    result.assert_outcomes(passed=1)


def test_fixtures_read_artifacts_through_stepline(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stepline

    monkeypatch.setenv("STEPLINE_DIR", str(pytester.path / ".stepline"))
    monkeypatch.setenv("STEPLINE_PROJECT", "nyc_airbnb")
    for var in ("STEPLINE_RUN_ID", "STEPLINE_SCOPE", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    for seed, aliases in ((2, ["reference"]), (1, [])):
        path = pytester.path / "clean_sample.csv"
        listings(500, seed).to_csv(path, index=False)
        with stepline.init(job_type="basic_cleaning", reinit="create_new") as run:
            art = stepline.Artifact("clean_sample.csv", type="clean_sample")
            art.add_file(str(path))
            run.log_artifact(art, aliases=aliases)
        path.unlink()
    pytester.makeconftest('pytest_plugins = ["stepline.checks.plugin"]\n')
    pytester.makepyfile(test_data=TESTS.format(columns=COLUMNS))
    result = pytester.runpytest_subprocess(
        "--csv", "clean_sample.csv:latest", "--ref", "clean_sample.csv:reference", *ARGS
    )
    result.assert_outcomes(passed=6)
    api = stepline.Api()
    runs = api.runs(project="nyc_airbnb", filters={"job_type": "data_tests"})
    assert len(runs) == 1 and runs[0].state == "finished"
    for ref in ("clean_sample.csv:v0", "clean_sample.csv:v1"):
        users = api.artifact(f"nyc_airbnb/{ref}").used_by()
        assert [r.id for r in users] == [runs[0].id]
