"""Keyset pages over runs: every run exactly once, in the order one ORDER BY would give."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepline.backends.base import RunRecord
from stepline.backends.local import LocalBackend
from stepline.errors import UsageError
from stepline.metadata import paging


def _store(root: Path, values: list[tuple[Any, Any]]) -> LocalBackend:
    b = LocalBackend(root)
    t0 = time.time()
    for i, (loss, kind) in enumerate(values):
        summary = {} if loss is None else {"loss": loss}
        b.create_run(
            RunRecord(
                id=f"r{i:04d}",
                project="p",
                name=f"run-{i}",
                group=None if kind is None else f"g{kind}",
                job_type="train",
                state="finished",
                config={"kind": kind} if kind is not None else {},
                summary=summary,
                created_at=t0 + (i % 5),  # ties on created_at
            )
        )
    return b


def _all_pages(b: LocalBackend, order: list[str], limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(1000):
        page = paging.page_runs(b, "p", {}, order, after=after, limit=limit)
        seen += [r.id for r in page.runs]
        if page.next is None:
            return seen
        after = page.next
    raise AssertionError("pagination did not end")


def _expected(b: LocalBackend, key: str, desc: bool) -> list[str]:
    runs = b.find_runs(paging_query())

    def value(r: RunRecord) -> Any:
        return paging._lookup(r, key)

    present = [r for r in runs if value(r) is not None]
    missing = [r for r in runs if value(r) is None]
    present.sort(key=lambda r: (value(r), r.id), reverse=desc)
    missing.sort(key=lambda r: r.id, reverse=desc)
    return [r.id for r in present + missing]


def paging_query() -> Any:
    from stepline.backends.base import RunQuery

    return RunQuery(project="p")


losses = st.one_of(st.none(), st.sampled_from([0.1, 0.5, 0.5, 1.0, 2.5, -3.0]))


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.tuples(losses, st.one_of(st.none(), st.integers(0, 2))), min_size=0, max_size=40
    ),
    limit=st.integers(1, 9),
    desc=st.booleans(),
)
def test_pages_cover_every_run_once_in_order(
    tmp_path_factory: pytest.TempPathFactory, values: list[tuple[Any, Any]], limit: int, desc: bool
) -> None:
    b = _store(tmp_path_factory.mktemp("paging") / ".stepline", values)
    try:
        order = ["-summary.loss" if desc else "summary.loss"]
        assert _all_pages(b, order, limit) == _expected(b, "summary.loss", desc)
    finally:
        b.close()


def test_group_then_sort_then_id(tmp_path: Path) -> None:
    rng = random.Random(3)
    values = [(rng.choice([None, 0.1, 0.2, 0.3]), rng.choice([None, 0, 1])) for _ in range(60)]
    b = _store(tmp_path / ".stepline", values)
    try:
        got = _all_pages(b, ["group", "-summary.loss"], 7)
        runs = {r.id: r for r in b.find_runs(paging_query())}
        assert sorted(got) == sorted(runs)
        groups = [runs[i].group for i in got]
        # grouped: each group's runs are contiguous, groups ascending, no group (NULL) last
        named = [g for g in groups if g is not None]
        assert named == sorted(named) and groups[len(named) :] == [None] * (
            len(groups) - len(named)
        )
        for g in set(groups):
            losses = [runs[i].summary.get("loss") for i in got if runs[i].group == g]
            present = [x for x in losses if x is not None]
            assert present == sorted(present, reverse=True)
            assert losses[len(present) :] == [None] * (len(losses) - len(present))
    finally:
        b.close()


def test_created_at_ties_and_counts(tmp_path: Path) -> None:
    b = _store(tmp_path / ".stepline", [(0.1, 0)] * 23)
    try:
        got = _all_pages(b, ["-created_at"], 4)
        assert len(got) == len(set(got)) == 23
        assert paging.count_runs(b, "p", {}) == 23
        assert paging.count_runs(b, "p", {"summary.loss": {"$lt": 0.05}}) == 0
    finally:
        b.close()


def test_a_cursor_from_another_sort_is_refused(tmp_path: Path) -> None:
    b = _store(tmp_path / ".stepline", [(0.1, 0)] * 5)
    try:
        page = paging.page_runs(b, "p", {}, ["-created_at"], limit=2)
        assert page.next is not None
        with pytest.raises(UsageError, match="not valid for this sort"):
            paging.page_runs(b, "p", {}, ["group", "-created_at"], after=page.next, limit=2)
        with pytest.raises(UsageError, match="cannot sort on 'colour'"):
            paging.page_runs(b, "p", {}, ["colour"])
    finally:
        b.close()
