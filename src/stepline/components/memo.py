"""Read each component folder once while planning many executions of the same pipeline.

A sweep plans every execution before any step runs, and each plan prepares the same few
component folders again: parse the MLproject, list and hash the files (a `git ls-files` per
folder). Within `planning_memo()`, those answers are kept per folder for the block, so a 4 x 4
sweep of a 3-step pipeline reads each component once instead of 16 times. Outside the block
nothing is kept: a folder is read afresh every time, as a component may change between runs.

    with planning_memo():
        plans = [plan_execution(spec, runner, tracker) for spec in specs]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_MEMO: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar("stepline_memo", default=None)


@contextmanager
def planning_memo() -> Iterator[None]:
    """Keep component folders' MLprojects and digests for the block (this thread's context)."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def remembered(kind: str, key: str, compute: Callable[[], T]) -> T:
    """`compute()`, or within `planning_memo()` its first answer for (`kind`, `key`)."""
    memo = _MEMO.get()
    if memo is None:
        return compute()
    if (kind, key) not in memo:
        memo[(kind, key)] = compute()
    result: T = memo[(kind, key)]
    return result
