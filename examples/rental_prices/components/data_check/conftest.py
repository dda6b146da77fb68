"""Options and fixtures of the rental-prices data checks.

``stepline.checks`` provides the ``--csv``/``--ref`` options and the ``data``/``ref_data``
fixtures (each loads its artifact through ``run.use_artifact(...).file()`` into a DataFrame);
this file adds the thresholds the tests need.
"""

import pytest

pytest_plugins = ["stepline.checks"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rental_prices", "rental-prices data checks")
    group.addoption(
        "--kl_threshold",
        type=float,
        default=0.2,
        help="largest KL divergence of neighbourhood_group against the reference",
    )
    group.addoption(
        "--ks_alpha",
        type=float,
        default=0.05,
        help="family-wise significance level of the KS tests",
    )
    group.addoption("--min_price", type=float, default=10.0, help="minimum nightly price")
    group.addoption("--max_price", type=float, default=350.0, help="maximum nightly price")
    group.addoption("--min_rows", type=int, default=15_000, help="fewest rows (exclusive)")
    group.addoption("--max_rows", type=int, default=1_000_000, help="most rows (exclusive)")


@pytest.fixture(scope="session")
def kl_threshold(request: pytest.FixtureRequest) -> float:
    return float(request.config.option.kl_threshold)


@pytest.fixture(scope="session")
def ks_alpha(request: pytest.FixtureRequest) -> float:
    return float(request.config.option.ks_alpha)


@pytest.fixture(scope="session")
def min_price(request: pytest.FixtureRequest) -> float:
    return float(request.config.option.min_price)


@pytest.fixture(scope="session")
def max_price(request: pytest.FixtureRequest) -> float:
    return float(request.config.option.max_price)


@pytest.fixture(scope="session")
def row_range(request: pytest.FixtureRequest) -> tuple[int, int]:
    return int(request.config.option.min_rows), int(request.config.option.max_rows)
