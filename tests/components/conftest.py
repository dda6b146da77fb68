import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "components"


@pytest.fixture(scope="session")
def _cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stepline-cache")


@pytest.fixture
def shared_cache(store: Path, _cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One stepline cache for the whole session, so each env (and the runtime) is built once.

    Depends on the root `store` fixture so it overrides that fixture's per-test cache dir.
    """
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(_cache_root))
    return _cache_root


@pytest.fixture(scope="session")
def course_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the course-shaped fixture repo (components/ + pipeline/)."""
    target = tmp_path_factory.mktemp("course") / "repo"
    shutil.copytree(FIXTURES, target)
    return target
