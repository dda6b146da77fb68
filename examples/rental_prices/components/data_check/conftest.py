"""Options and fixtures of the rental-prices data checks.

The ``stepline.checks`` plugin provides the options ``--csv``, ``--ref``, ``--kl_threshold``,
``--ks_alpha``, ``--min_price`` and ``--max_price`` and the fixtures of the same names (``data``
and ``ref_data`` are the artifacts read through ``run.use_artifact(...).file()`` as DataFrames).
This file adds the plausible row-count range.
"""

import pytest

pytest_plugins = ["stepline.checks.plugin"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rental_prices", "rental-prices data checks")
    group.addoption(
        "--min_rows", type=int, default=15_000, help="smallest plausible number of rows (exclusive)"
    )
    group.addoption("--max_rows", type=int, default=1_000_000,
                    help="largest plausible number of rows (exclusive)")  # fmt: skip


@pytest.fixture(scope="session")
def row_range(request: pytest.FixtureRequest) -> tuple[int, int]:
    return int(request.config.getoption("min_rows")), int(request.config.getoption("max_rows"))
