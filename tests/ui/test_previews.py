"""Chart previews: a long metric's whole-range chart comes from min/max buckets kept as it is logged.

A million points, one spike up and one down: the chart sends at most 2,000 points, both spikes
among them, exactly what the bucket rule gives over the fully parsed series; a zoomed range is
still cut from the full series; what a run logs after its preview was saved is in the chart.
Every store: SQLite through SQLAlchemy, SQLite through the stdlib writer, PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from stepline.backends.base import RunRecord
from stepline.backends.local import LocalBackend
from stepline.metadata import previews
from stepline.metadata import schema as t
from stepline.ui.data import series

POINTS = 1_000_000
UP, DOWN = 654_321, 123_457


@pytest.fixture(params=["sqlite", "sqlite-stdlib", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalBackend]:
    url = None
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    elif request.param == "sqlite-stdlib":
        LocalBackend(tmp_path / "store").close()  # the schema exists: run writes go to sqlite3
    b = LocalBackend(tmp_path / "store", url)
    assert (b._fast is not None) == (request.param == "sqlite-stdlib")
    series.CACHE.items.clear()
    yield b
    b.close()


def value(s: int) -> float:
    if s == UP:
        return 1000.0
    if s == DOWN:
        return -1000.0
    return 1.0 / (1 + s / 1000) + (s * 7919 % 1000) * 1e-5


def log(b: LocalBackend, run_id: str, start: int, stop: int, chunk: int = 10_000) -> None:
    for first in range(start, stop, chunk):
        rows = [
            [s, 0.0, {"loss": value(s), "lr": 0.1}] for s in range(first, min(stop, first + chunk))
        ]
        b.append_history(run_id, first, rows[-1][0], json.dumps(rows))


def new_run(b: LocalBackend, run_id: str = "long0001") -> str:
    rec = RunRecord(
        id=run_id,
        project="p",
        name="long",
        group=None,
        job_type=None,
        state="running",
        created_at=time.time(),
    )
    return b.create_run(rec).id


def full(n: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(n, dtype=np.float64)
    return steps, np.array([value(int(s)) for s in steps])


def stored_previews(b: LocalBackend, run_id: str) -> dict[str, tuple[int, int]]:
    p = t.history_previews.c
    with b.engine.connect() as conn:
        rows = conn.execute(sa.select(p.key, p.points, p.history_id).where(p.run_id == run_id))
        return {k: (int(n), int(h)) for k, n, h in rows}


def test_a_million_points_chart_from_the_preview_with_both_spikes(backend: LocalBackend) -> None:
    run = new_run(backend)
    log(backend, run, 0, POINTS)
    backend.end_run(run, "finished", 0, time.time())
    assert stored_previews(backend, run)["loss"][0] == POINTS
    body = series.chart_data(backend, [run], "loss")["series"][0]
    assert (run, "loss") not in series.CACHE.items  # the history was not parsed
    assert body["total"] == POINTS and body["sent"] == len(body["steps"]) <= 2000
    assert max(body["values"]) == 1000.0 and body["steps"][body["values"].index(1000.0)] == UP
    assert min(body["values"]) == -1000.0 and body["steps"][body["values"].index(-1000.0)] == DOWN
    steps, values = full(POINTS)
    xs, ys = series.aligned_downsample(steps, values)
    assert body["steps"] == xs.astype(int).tolist() and body["values"] == ys.tolist()
    fewer = series.chart_data(backend, [run], "loss", points=300)["series"][0]
    xs, ys = series.aligned_downsample(steps, values, 300)
    assert fewer["sent"] <= 300 and fewer["values"] == ys.tolist() and 1000.0 in fewer["values"]

    # a zoom is cut from the full series, exactly as before, once the series serving the preview
    # started reading in the background is read (test_zoom.py: the zoom that comes before it)
    assert series.WARM.wait(run, "loss", timeout=300)
    zoom = series.chart_data(backend, [run], "loss", lo=100_000, hi=700_000)["series"][0]
    xs, ys = series.downsample(steps, values, lo=100_000, hi=700_000)
    assert zoom["steps"] == xs.astype(int).tolist() and zoom["values"] == ys.tolist()
    assert 1000.0 in zoom["values"] and -1000.0 in zoom["values"]


def test_what_a_run_logs_after_its_preview_is_saved_is_charted(backend: LocalBackend) -> None:
    run = new_run(backend)
    n = previews.START_STEPS + 10_000
    log(backend, run, 0, n)
    saved = stored_previews(backend, run)["loss"]
    assert saved[0] <= n
    log(backend, run, n, n + 5_000, chunk=1_000)  # less than SAVE_STEPS: not saved yet
    with (
        backend.engine.begin() as conn
    ):  # and a spike logged by another writer that keeps no previews
        conn.execute(
            sa.insert(t.history).values(
                run_id=run,
                first_step=n + 5_000,
                last_step=n + 5_000,
                data=json.dumps([[n + 5_000, 0.0, {"loss": 5e6}]]),
            )
        )
    assert stored_previews(backend, run)["loss"] == saved
    body = series.chart_data(backend, [run], "loss")["series"][0]
    assert body["total"] == n + 5_001 and body["steps"][-1] == n + 5_000
    assert 5e6 in body["values"] and body["sent"] <= 2000
    steps, values = full(n + 5_001)
    values[-1] = 5e6
    xs, ys = series.aligned_downsample(steps, values)
    assert body["steps"] == xs.astype(int).tolist() and body["values"] == ys.tolist()


def test_a_preview_missing_chunks_is_not_used(backend: LocalBackend) -> None:
    run = new_run(backend)
    n = previews.START_STEPS + 5_000
    log(backend, run, 0, n)
    p = t.history_previews.c
    with (
        backend.engine.begin() as conn
    ):  # as if a chunk were written before the preview but not in it
        conn.execute(sa.update(t.history_previews).values(chunks=p.chunks - 1))
    assert series.preview(backend, run, "loss") is None
    body = series.chart_data(backend, [run], "loss")["series"][0]
    assert body["total"] == n and (run, "loss") in series.CACHE.items


def test_a_short_run_keeps_no_preview(backend: LocalBackend) -> None:
    run = new_run(backend)
    log(backend, run, 0, 10_000, chunk=500)
    backend.end_run(run, "finished", 0, time.time())
    assert stored_previews(backend, run) == {}
    body = series.chart_data(backend, [run], "loss")["series"][0]
    assert (
        body["total"] == 10_000
        and body["sent"] <= 2000
        and max(body["values"]) == full(10_000)[1].max()
    )


@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 2047, 5000, 70_001])
def test_the_incremental_buckets_are_the_full_scans(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(-5, 5, n).astype(np.float64)  # many ties: the earlier point wins
    values[rng.integers(0, n, max(1, n // 50))] = np.nan
    steps = np.arange(n, dtype=np.float64)
    one = previews.KeyPreview()  # a point at a time
    for s, v in zip(steps.tolist(), values.tolist(), strict=True):
        one.add(s, v)
    many = previews.KeyPreview()  # in chunks of any size
    i = 0
    while i < n:
        j = i + int(rng.integers(1, 700))
        many.extend(steps[i:j].tolist(), values[i:j].tolist())
        i = j
    for p in (one, many):
        assert p.count == n
        for points in (2000, 500, 2):
            xs, ys = series.aligned_downsample(steps, values, points)
            got_x, got_y = p.points(points)
            assert got_x == xs.tolist()
            assert np.array_equal(np.array(got_y), ys, equal_nan=True)


def test_a_resumed_run_goes_on_from_its_stored_preview(
    backend: LocalBackend, tmp_path: Path
) -> None:
    run = new_run(backend)
    n = previews.START_STEPS + 10_000
    log(backend, run, 0, n)
    p = t.history_previews.c
    with backend.engine.begin() as conn:  # mark the stored preview: the next writer keeps it
        text = conn.execute(sa.select(p.data).where(p.run_id == run, p.key == "lr")).scalar_one()
        marked = json.loads(text)
        marked["buckets"][0][2] = -7.0
        conn.execute(
            sa.update(t.history_previews)
            .where(p.run_id == run, p.key == "lr")
            .values(data=json.dumps(marked))
        )
    backend.close()
    again = LocalBackend(tmp_path / "store", backend.url if "postgresql" in backend.url else None)
    try:
        log(again, run, n, n + previews.SAVE_STEPS)
        body = series.chart_data(again, [run], "lr")["series"][0]
        assert body["total"] == n + previews.SAVE_STEPS and -7.0 in body["values"]
        loss = series.chart_data(again, [run], "loss")["series"][0]
        steps, values = full(n + previews.SAVE_STEPS)
        xs, ys = series.aligned_downsample(steps, values)
        assert loss["steps"] == xs.astype(int).tolist() and loss["values"] == ys.tolist()
    finally:
        again.close()


def test_run_log_keeps_a_preview_from_the_flusher_thread() -> None:
    import stepline

    run = stepline.init(project="p")
    n = previews.START_STEPS + 5_000
    for i in range(n):
        run.log({"loss": value(i), "lr": 0.1})
    run.finish()
    from stepline.backends import get_backend

    b = get_backend()
    assert stored_previews(b, run.id)["loss"][0] == n  # type: ignore[arg-type]
    body = series.chart_data(b, [run.id], "loss")["series"][0]
    steps, values = full(n)
    xs, ys = series.aligned_downsample(steps, values)
    assert body["steps"] == xs.astype(int).tolist() and body["values"] == ys.tolist()


def test_rows_parsed_by_the_writer_give_the_same_preview(backend: LocalBackend) -> None:
    """The team server parses each chunk once to check it and hands the rows on with the text;
    the preview built from those rows is the one built from the text alone."""
    texts, given = new_run(backend, "text0001"), new_run(backend, "rows0001")
    log(backend, texts, 0, 45_000)
    for first in range(0, 45_000, 10_000):
        rows = [[s, 0.0, {"loss": value(s), "lr": 0.1}] for s in range(first, min(45_000, first + 10_000))]  # fmt: skip
        backend.append_history(given, first, rows[-1][0], json.dumps(rows), rows)
    for run in (texts, given):
        backend.end_run(run, "finished", 0, time.time())
    points = {k: n for k, (n, _hid) in stored_previews(backend, given).items()}
    assert points == {k: n for k, (n, _hid) in stored_previews(backend, texts).items()}
    assert points == {"loss": 45_000, "lr": 45_000}
    a = series.chart_data(backend, [texts], "loss")["series"][0]
    b = series.chart_data(backend, [given], "loss")["series"][0]
    assert a["steps"] == b["steps"] and a["values"] == b["values"]
