"""A zoom into a long metric before its whole series is read: right min/max buckets, fast paths.

After a chart preview is served, the server reads the whole series in the background; a zoom
that comes first is answered from the history chunks it overlaps (narrow ranges, exact) or from
the preview's buckets in the range (wide ranges, marked `exact: false`), then exactly.
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stepline.backends.base import RunRecord
from stepline.backends.local import LocalBackend
from stepline.ui.data import series

N = 300_000
UP, DOWN = 123_457, 211_111


def value(s: int) -> float:
    if s == UP:
        return 1000.0
    if s == DOWN:
        return -1000.0
    return 1.0 / (1 + s / 1000) + (s * 7919 % 1000) * 1e-5


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(tmp_path / "cache"))  # no parsed-arrays file
    b = LocalBackend(tmp_path / "store")
    run = b.create_run(
        RunRecord(
            id="zoom0001",
            project="p",
            name="long",
            group=None,
            job_type=None,
            state="running",
            created_at=time.time(),
        )
    ).id
    for first in range(0, N, 10_000):
        rows = [[s, 0.0, {"loss": value(s)}] for s in range(first, first + 10_000)]
        b.append_history(run, first, first + 9_999, json.dumps(rows))
    b.end_run(run, "finished", 0, time.time())
    series.CACHE.items.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from stepline.ui import create_app

    with TestClient(create_app(b)) as c:
        yield c, run
    series.WARM.wait(run, "loss", timeout=300)
    b.close()


def expected(lo: int, hi: int, points: int = series.MAX_POINTS) -> tuple[list[int], list[float]]:
    """Each of `points // 2` equal buckets' first minimum and first maximum, in step order."""
    steps = np.arange(lo, hi + 1)
    values = np.array([value(int(s)) for s in steps])
    if steps.size <= points:
        return steps.tolist(), values.tolist()
    edges = np.linspace(0, steps.size, points // 2 + 1).astype(int)
    keep: set[int] = set()
    for a, b in itertools.pairwise(edges.tolist()):
        keep.add(a + int(np.argmin(values[a:b])))
        keep.add(a + int(np.argmax(values[a:b])))
    idx = sorted(keep)
    return steps[idx].tolist(), values[idx].tolist()


def test_a_zoom_before_the_series_is_read_sends_the_right_buckets(store: Any) -> None:
    c, run = store
    url = f"/projects/p/chart?key=loss&runs={run}"
    whole = c.get(url).json()["series"][0]  # from the preview; starts the background read
    assert whole["total"] == N and 1000.0 in whole["values"] and -1000.0 in whole["values"]

    # a narrow zoom: the chunks it overlaps, exact min/max buckets over the range
    lo, hi = UP - 9_000, UP + 9_000  # three chunks
    narrow = c.get(url + f"&lo={lo}&hi={hi}").json()["series"][0]
    assert narrow["exact"] and narrow["total"] == N and narrow["sent"] <= 2000
    assert (narrow["steps"], narrow["values"]) == expected(lo, hi)
    assert narrow["steps"][narrow["values"].index(1000.0)] == UP

    # a range that fits is sent whole
    small = c.get(url + f"&lo={DOWN - 500}&hi={DOWN + 499}").json()["series"][0]
    assert small["steps"] == list(range(DOWN - 500, DOWN + 500)) and small["exact"]


def test_a_wide_zoom_first_comes_from_the_preview_then_from_the_whole_series(store: Any) -> None:
    c, run = store
    url = f"/projects/p/chart?key=loss&runs={run}"
    lo, hi = 100_000, 250_000
    first = c.get(url + f"&lo={lo}&hi={hi}").json()["series"][0]
    # the preview's buckets inside the range: both spikes, at their steps, nothing outside
    assert not first["exact"] and first["total"] == N and 0 < first["sent"] <= 2000
    assert all(lo <= s <= hi for s in first["steps"]) and first["steps"] == sorted(first["steps"])
    assert first["steps"][first["values"].index(1000.0)] == UP
    assert first["steps"][first["values"].index(-1000.0)] == DOWN
    assert all(v == value(s) for s, v in zip(first["steps"], first["values"], strict=True))

    assert series.WARM.wait(run, "loss", timeout=300)
    exact = c.get(url + f"&lo={lo}&hi={hi}").json()["series"][0]
    assert exact["exact"] and exact["sent"] <= 2000 and exact["sent"] > first["sent"]
    assert (exact["steps"], exact["values"]) == expected(lo, hi)
    assert exact["steps"][exact["values"].index(-1000.0)] == DOWN


def test_a_zoom_in_the_browser_ends_exact_with_both_spikes(store: Any, browser: Any) -> None:
    from tests.ui.conftest import Page, Server

    c, run = store
    with Server(c.app) as srv:
        p = Page(browser, srv.url)
        try:
            pg = p.goto(f"/projects/p/runs/{run}")
            pg.wait_for_selector(".chart[data-key='loss'][data-drawn]")
            box = pg.eval_on_selector(
                ".chart[data-key='loss'] .u-over",
                "e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }",
            )
            x, y, w, h = box
            pg.mouse.move(x + w * 0.3, y + h / 2)
            pg.mouse.down()
            pg.mouse.move(x + w * 0.8, y + h / 2, steps=5)
            pg.mouse.up()
            # coarse first (from the preview) or exact at once: either way exact in the end
            pg.wait_for_selector(".chart[data-key='loss'][data-exact='1']", timeout=120_000)
            last = pg.evaluate(
                "() => { const j = document.querySelector(\".chart[data-key='loss']\")._json;"
                " const s = j.series[0]; return {exact: s.exact, sent: s.sent,"
                " max: Math.max(...s.values), min: Math.min(...s.values)}; }"
            )
            assert last["exact"] and 0 < last["sent"] <= 2000
            assert last["max"] == 1000.0 and last["min"] == -1000.0
            assert p.errors == []
        finally:
            p.context.close()
