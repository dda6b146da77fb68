"""Fixtures of the reliability suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _forking import Forker


@pytest.fixture
def forker() -> Iterator[Forker]:
    """A warm interpreter that forks workload processes (see `_zygote.py`)."""
    f = Forker()
    yield f
    f.close()
