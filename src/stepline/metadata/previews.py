"""Chart previews: each long metric's min/max buckets, kept in `history_previews` as it is logged.

A chart of a whole run needs at most 2,000 points, but reading them from the history means parsing
every chunk (seconds for a million steps). So once a run has logged more than `START_STEPS` steps,
its writer (the history flusher's thread, through `append_history`: never the thread that calls
`run.log`) keeps, per numeric key, the points in buckets of a power-of-two size aligned on the
key's first point, each bucket's minimum and maximum (a single spike is never dropped), at most
`MAX_BUCKETS` of them: past that, neighbours merge and the size doubles. The buckets are stored
(one row per run and key, as JSON) every `SAVE_STEPS` steps and when the run ends, with the id of
the last history chunk they hold; a reader folds in the chunks after it, so a preview is never
stale, only a few chunks behind.

    builder = KeyPreview()
    for step, value in points:
        builder.add(step, value)
    steps, values = builder.points(2000)   # ≤ 2000 points, each bucket's min and max, in order

Pure Python, no SQLAlchemy: the stdlib SQLite writer (`sqlite_runs`) uses it too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stepline.formats import fastjson

#: a run's previews start once its history spans this many steps (below, parsing is fast)
START_STEPS = 20_000
#: the stored previews are rewritten after this many more steps (and when the run ends)
SAVE_STEPS = 20_000
#: buckets per key: 2 points each, so a whole-range chart sends at most 2,000 points
MAX_BUCKETS = 1000

_INF = math.inf


def _lo(v: float) -> float:
    """The value a minimum compares (NaN never wins)."""
    return _INF if v != v else v


def _hi(v: float) -> float:
    return -_INF if v != v else v


class KeyPreview:
    """One key's buckets: [min index, min step, min value, max index, max step, max value]."""

    __slots__ = ("buckets", "count", "size")

    def __init__(self, size: int = 1, count: int = 0, buckets: list[list[float]] | None = None):
        self.size = size
        self.count = count
        self.buckets: list[list[float]] = buckets if buckets is not None else []

    def add(self, step: float, value: float) -> None:
        i = self.count
        self.count = i + 1
        if i % self.size == 0:
            self.buckets.append([i, step, value, i, step, value])
            if len(self.buckets) > MAX_BUCKETS:
                self.buckets = _merged(self.buckets)
                self.size *= 2
            return
        b = self.buckets[-1]
        if _lo(value) < _lo(b[2]):
            b[0], b[1], b[2] = i, step, value
        if _hi(value) > _hi(b[5]):
            b[3], b[4], b[5] = i, step, value

    def extend(self, steps: list[float], values: list[float]) -> None:
        """`add` for each pair, a bucket's worth at a time (min/max/index run in C)."""
        i, n = 0, len(values)
        while i < n:
            pos = self.count
            room = self.size - pos % self.size
            seg = values[i : i + room]
            if any(map(math.isnan, seg)):
                for s, v in zip(steps[i : i + room], seg, strict=True):
                    self.add(s, v)
                i += len(seg)
                continue
            lo, hi = min(seg), max(seg)
            j, k = seg.index(lo), seg.index(hi)
            self.count = pos + len(seg)
            if pos % self.size == 0:
                self.buckets.append([pos + j, steps[i + j], lo, pos + k, steps[i + k], hi])
                if len(self.buckets) > MAX_BUCKETS:
                    self.buckets = _merged(self.buckets)
                    self.size *= 2
            else:
                b = self.buckets[-1]
                if lo < _lo(b[2]):
                    b[0], b[1], b[2] = pos + j, steps[i + j], lo
                if hi > _hi(b[5]):
                    b[3], b[4], b[5] = pos + k, steps[i + k], hi
            i += len(seg)

    def points(self, max_points: int = 2 * MAX_BUCKETS) -> tuple[list[float], list[float]]:
        """At most `max_points` (step, value) pairs: each bucket's min and max, in logged order."""
        buckets = self.buckets
        while len(buckets) > max(1, max_points // 2):
            buckets = _merged(buckets)
        steps: list[float] = []
        values: list[float] = []
        for b in buckets:
            if b[0] == b[3]:
                steps.append(b[1])
                values.append(b[2])
            elif b[0] < b[3]:
                steps += (b[1], b[4])
                values += (b[2], b[5])
            else:
                steps += (b[4], b[1])
                values += (b[5], b[2])
        return steps, values

    def between(
        self, lo: float | None, hi: float | None, max_points: int = 2 * MAX_BUCKETS
    ) -> tuple[list[float], list[float]]:
        """`points` of the buckets with a point in [lo, hi], that point kept only when inside.

        Coarser than a full read (a bucket of the preview's size is one min and one max) and a
        bucket that straddles an end shows only its points inside, but every spike of a bucket
        wholly inside the range is there: an answer for a zoom before the series is read.
        """
        a = -_INF if lo is None else lo
        b = _INF if hi is None else hi
        inside = [x for x in self.buckets if a <= x[1] <= b or a <= x[4] <= b]
        steps, values = KeyPreview(self.size, self.count, inside).points(max_points)
        kept = [(s, v) for s, v in zip(steps, values, strict=True) if a <= s <= b]
        return [s for s, _ in kept], [v for _, v in kept]

    def copy(self) -> KeyPreview:
        return KeyPreview(self.size, self.count, [list(b) for b in self.buckets])

    def to_json(self) -> str:
        return json.dumps({"size": self.size, "count": self.count, "buckets": self.buckets})

    @classmethod
    def from_json(cls, text: str) -> KeyPreview:
        d = json.loads(text)
        return cls(int(d["size"]), int(d["count"]), d["buckets"])


def _merged(buckets: list[list[float]]) -> list[list[float]]:
    """Neighbours paired into one bucket (the earlier point wins a tie, as in a full scan)."""
    out = []
    for j in range(0, len(buckets) - 1, 2):
        a, b = buckets[j], buckets[j + 1]
        lo = b if _lo(b[2]) < _lo(a[2]) else a
        hi = b if _hi(b[5]) > _hi(a[5]) else a
        out.append([lo[0], lo[1], lo[2], hi[3], hi[4], hi[5]])
    if len(buckets) % 2:
        out.append(list(buckets[-1]))
    return out


def fold(previews: dict[str, KeyPreview], chunk: str | list[Any], only: str | None = None) -> None:
    """Add one history chunk's numeric points (keys not starting with `_`) to `previews`;
    `chunk` is its JSON text or that text already parsed."""
    columns: dict[str, tuple[list[float], list[float]]] = {}
    for step, _ts, row in fastjson.loads(chunk) if isinstance(chunk, str) else chunk:
        for k, v in row.items():
            if type(v) is float or type(v) is int:
                c = columns.get(k)
                if c is None:
                    if k.startswith("_") or (only is not None and k != only):
                        continue
                    c = columns[k] = ([], [])
                c[0].append(step)
                c[1].append(v)
    for k, (steps, values) in columns.items():
        p = previews.get(k)
        if p is None:
            p = previews[k] = KeyPreview()
        p.extend(steps, values)


class RunPreviews:
    """What a writer knows of one run: steps seen, and (once started) its keys' previews."""

    __slots__ = ("broken", "chunks", "history_id", "keys", "steps", "unsaved")

    def __init__(self, steps: int, chunks: int) -> None:
        self.steps = steps
        self.chunks = chunks  # history chunks stored for the run
        self.keys: dict[str, KeyPreview] | None = None  # None: not started
        self.history_id = 0  # the last chunk folded in
        self.unsaved = 0  # steps folded in since the last save
        self.broken = False  # a preview write failed: left to readers' full parse


class Store:
    """The SQL a writer runs, given as callables, so both writers share the rules above."""

    def __init__(
        self,
        counts: Callable[[str], tuple[int, int]],
        chunks: Callable[[str, int], Iterable[tuple[int, str]]],
        save: Callable[[str, int, int, dict[str, KeyPreview]], None],
        load: Callable[[str], list[tuple[str, int, int, str]]],
    ) -> None:
        self.counts = counts  # run → (chunks, steps spanned) already stored
        self.chunks = chunks  # (run, after id) → (id, data) of its later history, in id order
        self.save = save  # (run, history id, chunks, previews) → stored
        self.load = load  # run → its stored (key, history id, chunks, JSON)
        self.runs: dict[str, RunPreviews] = {}

    def appended(
        self,
        run_id: str,
        history_id: int,
        first: int,
        last: int,
        data: str,
        rows: list[Any] | None = None,
    ) -> None:
        """After a chunk is stored: start, extend or save the run's previews (never raises);
        `rows` is `data` parsed, when the writer has it."""
        state = self.runs.get(run_id)
        try:
            if state is None:
                chunks, steps = self.counts(run_id)
                state = self.runs[run_id] = RunPreviews(steps - (last - first + 1), chunks - 1)
            if state.broken:
                return
            state.steps += last - first + 1
            state.chunks += 1
            if state.keys is None:
                if state.steps <= START_STEPS:
                    return
                self._start(run_id, state, (history_id, rows))
                return
            fold(state.keys, data if rows is None else rows)
            state.history_id = history_id
            state.unsaved += last - first + 1
            if state.unsaved >= SAVE_STEPS:
                self._save(run_id, state)
        except Exception:  # a preview is a cache: logging goes on, charts parse the history
            if state is not None:
                state.broken = True

    def _start(
        self, run_id: str, state: RunPreviews, known: tuple[int, list[Any] | None] = (0, None)
    ) -> None:
        """Previews from the stored ones (a resumed run) and the chunks after them, or else
        from the whole history; then saved. `known` is a chunk's id and its rows already
        parsed (the one just written), so that one is not parsed again."""

        def rows(hid: int, text: str) -> str | list[Any]:
            return known[1] if hid == known[0] and known[1] is not None else text

        stored = self.load(run_id)
        marks = {(hid, n) for _k, hid, n, _text in stored}
        keys: dict[str, KeyPreview] = {}
        after, folded = 0, 0
        if len(marks) == 1:
            after, folded = marks.pop()
            keys = {k: KeyPreview.from_json(text) for k, _hid, _n, text in stored}
        state.history_id = after
        for hid, text in self.chunks(run_id, after):
            fold(keys, rows(hid, text))
            state.history_id = max(state.history_id, hid)
            folded += 1
        if folded != state.chunks and after:  # the stored ones miss chunks: start over
            state.history_id, keys, folded = 0, {}, 0
            for hid, text in self.chunks(run_id, 0):
                fold(keys, rows(hid, text))
                state.history_id = max(state.history_id, hid)
        state.keys = keys
        self._save(run_id, state)

    def ended(self, run_id: str) -> None:
        """The run ended: save what is unsaved and forget it (never raises)."""
        state = self.runs.pop(run_id, None)
        if state is None or state.broken or state.keys is None or not state.unsaved:
            return
        try:
            self._save(run_id, state)
        except Exception:
            pass

    def _save(self, run_id: str, state: RunPreviews) -> None:
        assert state.keys is not None
        self.save(run_id, state.history_id, state.chunks, state.keys)
        state.unsaved = 0


def rows(previews: dict[str, KeyPreview]) -> Iterator[tuple[str, int, str]]:
    """(key, points, JSON) for each key, as `history_previews` stores them."""
    for key, p in previews.items():
        yield key, p.count, p.to_json()


def catch_up(
    stored: tuple[int, int, str], newer: Iterable[tuple[int, str]], key: str, total_chunks: int
) -> KeyPreview | None:
    """A stored preview (history id, chunks, JSON) with the chunks after it folded in; None
    when it does not account for every chunk (written by a writer that missed some)."""
    history_id, chunks, text = stored
    p = {key: KeyPreview.from_json(text)}
    for hid, data in newer:
        if hid <= history_id:
            continue
        fold(p, data, only=key)
        chunks += 1
    if chunks != total_chunks:
        return None
    return p[key]
