"""Min/max downsampling: at most N points, every bucket's extremes kept, nothing outside the range."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stepline.ui.data.series import MAX_POINTS, downsample


def test_a_single_spike_in_a_million_points_survives() -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(1_000_000, dtype=np.float64)
    values = rng.normal(0, 1, steps.size)
    values[654_321] = 1e6
    values[123_456] = -1e6
    xs, ys = downsample(steps, values)
    assert xs.size <= MAX_POINTS
    assert ys.max() == 1e6 and xs[ys.argmax()] == 654_321
    assert ys.min() == -1e6 and xs[ys.argmin()] == 123_456
    assert np.all(np.diff(xs) > 0)


def test_a_zoomed_range_is_sent_in_full_when_it_fits() -> None:
    steps = np.arange(10_000, dtype=np.float64)
    xs, ys = downsample(steps, steps * 2, points=2000, lo=500, hi=1499)
    assert xs.tolist() == list(range(500, 1500))
    assert ys.tolist() == [2 * x for x in range(500, 1500)]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=3000),
    points=st.integers(2, 400),
)
def test_every_bucket_keeps_its_extremes(values: list[float], points: int) -> None:
    ys_in = np.asarray(values)
    steps = np.arange(ys_in.size, dtype=np.float64)
    xs, ys = downsample(steps, ys_in, points=points)
    assert xs.size <= max(points, 2)
    assert ys.max() == ys_in.max() and ys.min() == ys_in.min()
    # every point sent is a real (step, value) pair
    assert np.all(ys_in[xs.astype(int)] == ys)


def test_a_long_metric_is_parsed_once_and_kept_on_disk(store: object, tmp_path: object) -> None:
    import json
    import os

    from stepline.backends import get_backend
    from stepline.backends.base import RunRecord
    from stepline.ui.data import series

    b = get_backend()
    run = b.create_run(
        RunRecord(
            id="long0001", project="p", name="long", group=None, job_type=None, state="finished"
        )
    )
    n = series.DISK_MIN + 10
    rows = [[s, 0.0, {"loss": float(s % 97), "note": "x"}] for s in range(n)]
    rows[777][2]["loss"] = 1e9
    b.append_history(run.id, 0, n - 1, json.dumps(rows))
    # the whole range comes from the run's chart preview; serving it (or a zoom) starts reading
    # the history in the background, and zooms after that are cut from the arrays it keeps
    zoom = {"lo": 0, "hi": n}
    first = series.chart_data(b, [run.id], "loss", **zoom)["series"][0]
    assert first["total"] == n and 1e9 in first["values"]
    assert series.WARM.wait(run.id, "loss", timeout=120)
    exact = series.chart_data(b, [run.id], "loss", **zoom)["series"][0]
    assert exact["exact"] and exact["total"] == n and 1e9 in exact["values"]
    files = list((series._disk_path(b, run.id, "loss", (1, 1)) or tmp_path).parent.glob("*.npy"))  # type: ignore[union-attr]
    assert len(files) == 1
    series.CACHE.items.clear()
    again = series.chart_data(b, [run.id], "loss", **zoom)["series"][0]
    assert again == exact  # from the file, not parsed again
    assert not series.WARM.running
    files[0].write_bytes(b"not numpy")  # a damaged cache file is parsed again, not trusted
    series.CACHE.items.clear()
    assert 1e9 in series.chart_data(b, [run.id], "loss", **zoom)["series"][0]["values"]
    assert series.WARM.wait(run.id, "loss", timeout=120)
    assert series.chart_data(b, [run.id], "loss", **zoom)["series"][0] == exact
    assert os.environ["STEPLINE_CACHE_DIR"] in str(files[0])
