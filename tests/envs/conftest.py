import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One stepline cache for the env tests, so the runtime env is built once."""
    root = tmp_path_factory.mktemp("stepline-cache")
    old = os.environ.get("STEPLINE_CACHE_DIR")
    os.environ["STEPLINE_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("STEPLINE_CACHE_DIR", None)
    else:
        os.environ["STEPLINE_CACHE_DIR"] = old
