import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "components"


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One stepline cache for these tests, so each env is built once."""
    root = tmp_path_factory.mktemp("stepline-cache")
    old = os.environ.get("STEPLINE_CACHE_DIR")
    os.environ["STEPLINE_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("STEPLINE_CACHE_DIR", None)
    else:
        os.environ["STEPLINE_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def course_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the course-shaped fixture repo (components/ + pipeline/)."""
    target = tmp_path_factory.mktemp("course") / "repo"
    shutil.copytree(FIXTURES, target)
    return target
