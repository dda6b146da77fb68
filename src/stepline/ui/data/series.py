"""Metric series for charts, downsampled on the server with min/max buckets.

A series is read once from the run's history chunks into NumPy arrays (cached per run until the run
logs more), then every chart request cuts the visible step range into at most `points // 2`
buckets and sends each bucket's minimum and maximum, in step order. A single spike is therefore
always drawn, whatever the zoom (MLflow's stride sampling drops them, mlflow#11444), and no request
sends more than `points` points.

The whole range of a long metric comes from its chart preview instead (`metadata.previews`: the
same min/max rule over buckets of a power-of-two size, kept by the run's writer as it logs), with
the history chunks written after the preview folded in: no history parse, however long the run.
`aligned_downsample` is that rule over full arrays.

Serving a preview starts reading the whole series in a background process (`WARM`), so the zooms
that follow cut the arrays. A zoom that comes before that read is done is answered without it: a
range of at most `EXACT_STEPS` steps from the history chunks that overlap it (exact), a wider one
from the preview's buckets in the range (`exact: false`: every spike of a bucket inside is there,
at the preview's coarser resolution; the page asks again once the series is read).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from stepline.errors import NotFound
from stepline.formats import fastjson
from stepline.metadata import previews
from stepline.metadata import schema as t

MAX_POINTS = 2000


@dataclass
class Series:
    """One metric's steps and values, sorted by step."""

    steps: np.ndarray
    values: np.ndarray


class _Cache:
    """Series of the last few (run, metric) pairs, valid while the run logs nothing new."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str], tuple[tuple[int, int], Series | None]] = (
            OrderedDict()
        )
        self.lock = threading.Lock()

    @staticmethod
    def version(meta: Any, run_id: str) -> tuple[int, int]:
        with meta.engine.connect() as conn:
            stamp = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(t.history.c.id), 0)).where(
                    t.history.c.run_id == run_id
                )
            ).one()
        return (int(stamp[0]), int(stamp[1]))

    def _hit(self, run_id: str, key: str, version: tuple[int, int]) -> tuple[bool, Series | None]:
        with self.lock:
            hit = self.items.get((run_id, key))
            if hit is not None and hit[0] == version:
                self.items.move_to_end((run_id, key))
                return True, hit[1]
        return False, None

    def peek(self, meta: Any, run_id: str, key: str) -> tuple[bool, Series | None]:
        """(known, series) from memory or the disk file, never parsing the history."""
        version = self.version(meta, run_id)
        known, found = self._hit(run_id, key, version)
        if known:
            return known, found
        disk = _disk_path(meta, run_id, key, version)
        pairs = _load(disk) if disk is not None else None
        if pairs is None:
            return False, None
        found = _series(pairs)
        self._put(run_id, key, version, found)
        return True, found

    def get(self, meta: Any, run_id: str, key: str) -> Series | None:
        version = self.version(meta, run_id)
        known, found = self._hit(run_id, key, version)
        if known:
            return found
        found = _read(meta, run_id, key, version)
        self._put(run_id, key, version, found)
        return found

    def _put(self, run_id: str, key: str, version: tuple[int, int], found: Series | None) -> None:
        with self.lock:
            self.items[(run_id, key)] = (version, found)
            self.items.move_to_end((run_id, key))
            while len(self.items) > self.size:
                self.items.popitem(last=False)


CACHE = _Cache()


def _read(meta: Any, run_id: str, key: str, version: tuple[int, int] = (0, 0)) -> Series | None:
    """One numeric metric of a run's history as arrays, sorted by step (None if never logged).

    Parsing a million steps of history takes seconds, so the arrays are also kept on disk in the
    user cache folder, named by run, metric and the history rows they were read from: a finished
    run's chart is parsed once, not once per server start.
    """
    disk = _disk_path(meta, run_id, key, version)
    pairs = _load(disk) if disk is not None else None
    if pairs is not None:
        return _series(pairs)
    pairs = _parse(meta, run_id, key)
    if disk is not None and pairs.shape[0] >= DISK_MIN:
        disk.parent.mkdir(parents=True, exist_ok=True)
        tmp = disk.with_name(f".{disk.name}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, pairs, allow_pickle=False)
        os.replace(tmp, disk)
    return _series(pairs)


DISK_MIN = 50_000  # points: below this, parsing is faster than a file


def _load(disk: Path) -> np.ndarray | None:
    if not disk.exists():
        return None
    try:
        return np.load(disk, allow_pickle=False)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


class _Warm:
    """Whole series being read in the background, each by its own process (`ui/data/warm.py`).

    Parsing holds the interpreter (json.loads of a chunk is one long C call), so a thread would
    starve the very requests it is meant to speed up; a process writes the parsed-arrays file,
    and a thread here only waits for it and loads it. At most `MAX_RUNNING` at a time.
    """

    MAX_RUNNING = 2

    def __init__(self) -> None:
        self.running: dict[tuple[str, str], threading.Event] = {}
        self.lock = threading.Lock()

    def start(self, meta: Any, run_id: str, key: str) -> None:
        version = CACHE.version(meta, run_id)
        disk = _disk_path(meta, run_id, key, version)
        url = getattr(meta, "url", None)
        if disk is None or not isinstance(url, str) or ":memory:" in url:
            return
        with self.lock:
            if (run_id, key) in self.running or len(self.running) >= self.MAX_RUNNING:
                return
            done = self.running[(run_id, key)] = threading.Event()

        def work() -> None:
            import subprocess
            import sys

            try:
                pairs = _load(disk)  # another server may have read it; a damaged file is not
                if pairs is None:
                    job = json.dumps({"url": url, "run_id": run_id, "key": key, "out": str(disk)})
                    subprocess.run(
                        [sys.executable, "-m", "stepline.ui.data.warm"],
                        input=job.encode(),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        timeout=600,
                        check=False,
                    )
                    pairs = _load(disk)
                if pairs is not None:
                    CACHE._put(run_id, key, version, _series(pairs))
            except Exception:  # a failed warm-up leaves the next zoom to read the history
                pass
            finally:
                with self.lock:
                    self.running.pop((run_id, key), None)
                done.set()

        threading.Thread(target=work, name=f"stepline-warm-{run_id}", daemon=True).start()

    def wait(self, run_id: str, key: str, timeout: float | None = None) -> bool:
        """Block until the (run, metric) being read is read; False on timeout."""
        with self.lock:
            done = self.running.get((run_id, key))
        return done is None or done.wait(timeout)


WARM = _Warm()

#: a zoom before the whole series is read parses the chunks it overlaps up to this many steps
#: (three chunks of the usual 10,000: about 0.1 s of parsing)
EXACT_STEPS = 30_000


def _range_steps(meta: Any, run_id: str, lo: float | None, hi: float | None) -> int:
    """How many steps the history chunks overlapping [lo, hi] span (an upper bound on points)."""
    h = t.history.c
    with meta.engine.connect() as conn:
        found = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(h.last_step - h.first_step + 1), 0)).where(
                *_overlapping(run_id, lo, hi)
            )
        ).scalar_one()
    return int(found)


def _overlapping(run_id: str, lo: float | None, hi: float | None) -> list[Any]:
    h = t.history.c
    where = [h.run_id == run_id]
    if lo is not None:
        where.append(h.last_step >= int(np.floor(lo)))
    if hi is not None:
        where.append(h.first_step <= int(np.ceil(hi)))
    return where


def _disk_path(meta: Any, run_id: str, key: str, version: tuple[int, int]) -> Path | None:
    if version == (0, 0):
        return None
    from stepline import _settings

    tag = hashlib.blake2b(f"{meta.url}|{run_id}|{key}".encode(), digest_size=10).hexdigest()
    return _settings.cache_dir() / "ui-series" / f"{tag}-{version[0]}-{version[1]}.npy"


def _series(pairs: np.ndarray) -> Series | None:
    if pairs.shape[0] == 0:
        return None
    steps, values = pairs[:, 0].copy(), pairs[:, 1].copy()
    if steps.size > 1 and np.any(steps[1:] < steps[:-1]):
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
    return Series(steps, values)


def _parse(
    meta: Any, run_id: str, key: str, lo: float | None = None, hi: float | None = None
) -> np.ndarray:
    """(step, value) rows of `key` from the run's history chunks (those overlapping [lo, hi])."""
    xs: list[float] = []
    ys: list[float] = []
    with meta.engine.connect() as conn:
        chunks = conn.execute(
            sa.select(t.history.c.data)
            .where(*_overlapping(run_id, lo, hi), t.history.c.data.contains(json.dumps(key)))
            .order_by(t.history.c.first_step, t.history.c.id)
        ).scalars()
        for chunk in chunks:
            rows = fastjson.loads(chunk)
            values = [r[2].get(key) for r in rows]
            if all(type(v) is float or type(v) is int for v in values):
                xs.extend([r[0] for r in rows])
                ys.extend(values)  # type: ignore[arg-type]
                continue
            for r, v in zip(rows, values, strict=True):
                if type(v) is float or type(v) is int:
                    xs.append(r[0])
                    ys.append(v)
    return np.column_stack([np.asarray(xs, np.float64), np.asarray(ys, np.float64)])


def metric_keys(meta: Any, run_id: str, sample: int = 24) -> list[str]:
    """The numeric metrics a run logged, in first-logged order (`_`-prefixed keys left out).

    Read from at most `sample` of the run's history chunks (the first, the last and some evenly
    in between), so a run of a million steps lists its charts without parsing all of them.
    """
    with meta.engine.connect() as conn:
        ids = (
            conn.execute(
                sa.select(t.history.c.id)
                .where(t.history.c.run_id == run_id)
                .order_by(t.history.c.first_step, t.history.c.id)
            )
            .scalars()
            .all()
        )
        if len(ids) > sample:
            step = (len(ids) - 1) / (sample - 1)
            ids = sorted({ids[round(i * step)] for i in range(sample)})
        chunks = conn.execute(
            sa.select(t.history.c.data).where(t.history.c.id.in_(ids)).order_by(t.history.c.id)
        ).scalars()
        keys: dict[str, None] = {}
        for chunk in chunks:
            for _step, _ts, row in fastjson.loads(chunk):
                for k, v in row.items():
                    if (
                        k not in keys
                        and not k.startswith("_")
                        and (type(v) is float or type(v) is int)
                    ):
                        keys[k] = None
    return list(keys)


def downsample(
    steps: np.ndarray,
    values: np.ndarray,
    points: int = MAX_POINTS,
    lo: float | None = None,
    hi: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """At most `points` (step, value) pairs over [lo, hi]: each bucket's min and max, in step order."""
    points = max(2, min(points, MAX_POINTS))
    i0 = 0 if lo is None else int(np.searchsorted(steps, lo, side="left"))
    i1 = steps.size if hi is None else int(np.searchsorted(steps, hi, side="right"))
    xs, ys = steps[i0:i1], values[i0:i1]
    n = xs.size
    if n <= points:
        return xs, ys
    buckets = points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    return _extremes(xs, ys, edges)


def aligned_downsample(
    steps: np.ndarray, values: np.ndarray, points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The preview's rule over full arrays: buckets of the smallest power-of-two size that makes
    at most `previews.MAX_BUCKETS` (and `points // 2`) of them, from the first point; each
    bucket's min and max."""
    points = max(2, min(points, MAX_POINTS))
    n = steps.size
    size = 1
    while -(-n // size) > min(previews.MAX_BUCKETS, points // 2):
        size *= 2
    if size == 1:
        return steps, values
    edges = np.append(np.arange(0, n, size, dtype=np.int64), n)
    return _extremes(steps, values, edges)


def _extremes(xs: np.ndarray, ys: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each bucket's (edges[i] to edges[i + 1]) first minimum and first maximum, in order."""
    buckets = edges.size - 1
    starts = edges[:-1]
    # NaN never wins a min/max; a bucket of NaNs keeps its first point
    clean = np.where(np.isnan(ys), np.inf, ys)
    mins = np.minimum.reduceat(clean, starts)
    clean_hi = np.where(np.isnan(ys), -np.inf, ys)
    maxs = np.maximum.reduceat(clean_hi, starts)
    bucket_of = np.repeat(np.arange(buckets), np.diff(edges))
    # the first index in each bucket where the value equals the bucket's min (max)
    is_min = clean == mins[bucket_of]
    is_max = clean_hi == maxs[bucket_of]
    min_idx = _first_true(is_min, bucket_of, buckets, starts)
    max_idx = _first_true(is_max, bucket_of, buckets, starts)
    idx = np.unique(np.concatenate([min_idx, max_idx]))
    return xs[idx], ys[idx]


def _first_true(
    mask: np.ndarray, bucket_of: np.ndarray, buckets: int, starts: np.ndarray
) -> np.ndarray:
    hits = np.flatnonzero(mask)
    first = np.full(buckets, -1, dtype=np.int64)
    # reversed assignment leaves the smallest index of each bucket in place
    first[bucket_of[hits[::-1]]] = hits[::-1]
    return np.where(first < 0, starts, first)


def preview(meta: Any, run_id: str, key: str) -> previews.KeyPreview | None:
    """The run's stored preview of `key` brought up to date with the chunks logged after it;
    None when there is none (a short metric) or it misses chunks (then the history is parsed)."""
    p = t.history_previews.c
    h = t.history.c
    with meta.engine.connect() as conn:
        stored = conn.execute(
            sa.select(p.history_id, p.chunks, p.data).where(p.run_id == run_id, p.key == key)
        ).one_or_none()
        if stored is None:
            return None
        total = conn.execute(sa.select(sa.func.count()).where(h.run_id == run_id)).scalar_one()
        newer = conn.execute(
            sa.select(h.id, h.data).where(h.run_id == run_id, h.id > stored[0]).order_by(h.id)
        ).all()
    return previews.catch_up(
        (int(stored[0]), int(stored[1]), str(stored[2])),
        [(int(i), str(d)) for i, d in newer],
        key,
        int(total),
    )


def chart_data(
    meta: Any,
    run_ids: list[str],
    key: str,
    points: int = MAX_POINTS,
    lo: float | None = None,
    hi: float | None = None,
) -> dict[str, Any]:
    """A chart's data for metric `key` of each run: steps, values, how many points were logged."""
    out: dict[str, Any] = {"key": key, "max_points": min(points, MAX_POINTS), "series": []}
    found = False
    zoom = lo is not None or hi is not None
    for run_id in run_ids:
        exact = True
        known, s = CACHE.peek(meta, run_id, key) if zoom else (False, None)
        p = None if known else preview(meta, run_id, key)
        if p is not None and (zoom or (run_id, key) not in CACHE.items):
            WARM.start(meta, run_id, key)  # the zooms that follow cut the arrays
        if p is not None and not zoom:
            px, py = p.points(max(2, min(points, MAX_POINTS)))
            total, steps, values = p.count, px, py
        elif p is not None and _range_steps(meta, run_id, lo, hi) <= EXACT_STEPS:
            part = _series(_parse(meta, run_id, key, lo, hi))
            xs, ys = (
                downsample(part.steps, part.values, points, lo, hi)
                if part is not None
                else (np.empty(0), np.empty(0))
            )
            total, steps, values = p.count, xs.tolist(), ys.tolist()
        elif p is not None:
            total, (steps, values), exact = p.count, p.between(lo, hi, points), False
        else:
            if not known:
                s = CACHE.get(meta, run_id, key)
            if s is None:
                continue
            xs, ys = downsample(s.steps, s.values, points, lo, hi)
            total, steps, values = int(s.steps.size), xs.tolist(), ys.tolist()
        found = True
        out["series"].append(
            {
                "run": run_id,
                "total": total,
                "exact": exact,
                "sent": len(steps),
                "steps": [float(x) if x % 1 else int(x) for x in steps],
                "values": [None if v != v else v for v in values],
            }
        )
    if not found:
        raise NotFound(f"no run of {', '.join(run_ids)} logged a metric {key!r}")
    return out
