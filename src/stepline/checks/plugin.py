"""A pytest plugin for data-check components: options, a run, and the data as fixtures.

Enable it in the component's `conftest.py` (or with `pytest -p stepline.checks.plugin`):

    pytest_plugins = ["stepline.checks.plugin"]

Then `pytest . --csv clean_sample.csv:latest --ref clean_sample.csv:reference
--kl_threshold 0.2 --min_price 10 --max_price 350` gives the tests these fixtures:

    data, ref_data            pandas DataFrames of --csv and --ref (artifact references
                              read through stepline, or local CSV paths)
    kl_threshold, ks_alpha,   floats from the options of the same name
    min_price, max_price
    stepline_run              the run (stepline.init(job_type="data_tests"))

Other options are one call away, in the conftest:

    from stepline.checks.plugin import add_options, frame_fixture
    def pytest_addoption(parser):
        add_options(parser, {"sample_artifact": str, "reference_artifact": str})
    sample = frame_fixture("sample_artifact")

Do not declare `--csv` & co. again in a conftest that loads this plugin: pytest refuses an
option added twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from stepline.checks.data import is_local, read_artifact_csv, start_run
from stepline.settings import current

# name -> (type, default, help)
DEFAULT_OPTIONS: dict[str, tuple[type, Any, str]] = {
    "csv": (str, None, "artifact reference (or CSV path) of the data under test"),
    "ref": (str, None, "artifact reference (or CSV path) of the reference data"),
    "kl_threshold": (float, 0.2, "threshold on the KL divergence of categorical columns"),
    "ks_alpha": (float, 0.05, "family-wise significance level of the KS tests"),
    "min_price": (float, None, "minimum allowed price"),
    "max_price": (float, None, "maximum allowed price"),
}


def add_options(parser: Any, options: Mapping[str, Any]) -> None:
    """Add `--name` options: `{name: type}` or `{name: (type, default, help)}`."""
    group = parser.getgroup("stepline", "stepline data checks")
    for name, spec in options.items():
        kind, default, text = spec if isinstance(spec, tuple) else (spec, None, name)
        group.addoption(f"--{name}", action="store", type=kind, default=default, help=text)


def pytest_addoption(parser: Any) -> None:
    add_options(parser, DEFAULT_OPTIONS)


def option_value(request: Any, name: str) -> Any:
    """The value of `--name`; fails the test with the usage when it was not given."""
    value = request.config.getoption(name, default=None)
    if value is None:
        pytest.fail(f"this test needs --{name} (e.g. pytest . --{name} VALUE)", pytrace=False)
    return value


@pytest.fixture(scope="session")
def stepline_run(request: Any) -> Iterator[Any]:
    """The data_tests run. Finished at the end of the session unless a stepline parent owns
    it (STEPLINE_RUN_ID set: the component runner finishes the step's run)."""
    run = start_run("data_tests")
    yield run
    if not current().run_id:
        run.finish(exit_code=1 if request.session.testsfailed else 0)


def frame_fixture(option: str, name: str | None = None) -> Callable[..., Any]:
    """A session fixture reading the artifact (or CSV) given by `--option` as a DataFrame."""

    def _fixture(request: Any) -> Any:
        ref = option_value(request, option)
        if is_local(ref):
            return read_artifact_csv(ref)
        return read_artifact_csv(ref, run=request.getfixturevalue("stepline_run"))

    _fixture.__name__ = name or option
    _fixture.__doc__ = f"DataFrame of the artifact given by --{option}."
    return pytest.fixture(scope="session", name=name or option)(_fixture)


def float_fixture(option: str) -> Callable[..., Any]:
    """A session fixture returning `float(--option)`."""

    def _fixture(request: Any) -> float:
        return float(option_value(request, option))

    _fixture.__name__ = option
    return pytest.fixture(scope="session", name=option)(_fixture)


data = frame_fixture("csv", "data")
ref_data = frame_fixture("ref", "ref_data")
kl_threshold = float_fixture("kl_threshold")
ks_alpha = float_fixture("ks_alpha")
min_price = float_fixture("min_price")
max_price = float_fixture("max_price")
