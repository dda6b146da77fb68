"""The pytest plugin, run by a real pytest process on a data_check project the tests write."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Outcome:
    returncode: int
    output: str

    def counts(self) -> dict[str, int]:
        tail = self.output.strip().splitlines()[-1] if self.output.strip() else ""
        return {
            k: int(n)
            for n, k in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected)", tail)
        }

    def expect(self, **counts: int) -> None:
        got = {("errors" if k == "error" else k): v for k, v in self.counts().items()}
        assert got == counts, self.output


class Project:
    """A data_check component folder, and `pytest` run in it as stepline would run it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, text: str) -> None:
        (self.path / name).write_text(text)

    def pytest(self, *args: str) -> Outcome:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Outcome(proc.returncode, proc.stdout + proc.stderr)


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
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path / "data_check")
    proj.path.mkdir()
    proj.write("conftest.py", 'pytest_plugins = ["stepline.checks.plugin"]\n')
    proj.write("test_data.py", TESTS.format(columns=COLUMNS))
    listings(500, 1).to_csv(proj.path / "sample.csv", index=False)
    listings(500, 2).to_csv(proj.path / "reference.csv", index=False)
    shifted = listings(500, 3, probs=[0.1, 0.1, 0.1, 0.35, 0.35])
    shifted.loc[0, "latitude"] = 39.0
    shifted.to_csv(proj.path / "shifted.csv", index=False)
    return proj


ARGS = ["--kl_threshold", "0.2", "--min_price", "10", "--max_price", "350"]


def test_good_sample_passes(project: Project) -> None:
    result = project.pytest("--csv", "sample.csv", "--ref", "reference.csv", *ARGS)
    result.expect(passed=6)
    assert result.returncode == 0


def test_shifted_sample_fails_the_distribution_and_bounds_tests(project: Project) -> None:
    result = project.pytest("--csv", "shifted.csv", "--ref", "reference.csv", *ARGS)
    result.expect(passed=4, failed=2)
    assert "'latitude': 1 of 500 values outside [40.5, 41.2]" in result.output
    assert re.search(r"KL divergence \d\.\d+ is not below 0\.2", result.output)


def test_missing_option_fails_with_usage(project: Project) -> None:
    result = project.pytest("--csv", "sample.csv", "--ref", "reference.csv", "-k", "price_range")
    result.expect(errors=1, deselected=5)  # a fixture failure: the test never ran
    assert result.returncode != 0
    assert "this test needs --min_price" in result.output


def test_project_specific_options(project: Project) -> None:
    project.write(
        "conftest.py",
        'pytest_plugins = ["stepline.checks.plugin"]\n'
        "from stepline.checks.plugin import add_options, frame_fixture\n"
        "def pytest_addoption(parser):\n"
        "    add_options(parser, {'sample_artifact': str, 'reference_artifact': str})\n"
        "sample = frame_fixture('sample_artifact', 'sample')\n"
        "reference = frame_fixture('reference_artifact', 'reference')\n",
    )
    project.write(
        "test_data.py",
        "from stepline.checks import check_ks\n"
        "def test_ks(sample, reference, ks_alpha):\n"
        "    check_ks(sample, reference, ['latitude', 'longitude', 'price'], ks_alpha)\n",
    )
    ref = "file://" + str(project.path / "reference.csv")
    result = project.pytest(
        "--sample_artifact", "sample.csv", "--reference_artifact", ref, "--ks_alpha", "0.05"
    )
    result.expect(passed=1)


def test_fixtures_read_artifacts_through_stepline(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stepline

    monkeypatch.setenv("STEPLINE_PROJECT", "nyc_airbnb")
    for seed, aliases in ((2, ["reference"]), (1, [])):
        path = project.path / "clean_sample.csv"
        listings(500, seed).to_csv(path, index=False)
        with stepline.init(job_type="basic_cleaning", reinit="create_new") as run:
            art = stepline.Artifact("clean_sample.csv", type="clean_sample")
            art.add_file(str(path))
            run.log_artifact(art, aliases=aliases)
        path.unlink()
    result = project.pytest(
        "--csv", "clean_sample.csv:latest", "--ref", "clean_sample.csv:reference", *ARGS
    )
    result.expect(passed=6)
    api = stepline.Api()
    runs = api.runs(project="nyc_airbnb", filters={"job_type": "data_tests"})
    assert len(runs) == 1 and runs[0].state == "finished"
    for ref in ("clean_sample.csv:v0", "clean_sample.csv:v1"):
        users = api.artifact(f"nyc_airbnb/{ref}").used_by()
        assert [r.id for r in users] == [runs[0].id]
