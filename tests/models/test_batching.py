"""Adaptive batching: concurrent requests scored together get exactly their own predictions."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from stepline.errors import ModelError, SignatureError
from stepline.models import load, save
from stepline.models.batching import Batcher, RowBatcher, batch_rows
from stepline.models.serving import create_app, serve_in_thread


@pytest.fixture
def packaged(rental, tmp_path: Path):
    frame, _, model = rental
    return load(save(model, tmp_path / "pkg", input_example=frame.iloc[:2])), frame


def test_concurrent_rows_get_their_own_predictions(packaged) -> None:
    model, frame = packaged
    batcher = Batcher(model)
    gate = threading.Barrier(8)

    def one(i: int) -> np.ndarray:
        rows = model.prepare(frame.iloc[i * 3 : i * 3 + 3])
        gate.wait()
        return batcher.predict(rows)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, range(8)))
    expected = model.predict(frame.iloc[:24])
    assert np.array_equal(np.concatenate(got), expected)


class Picky:
    """Fails on any batch holding a negative minimum_nights, as a model can."""

    def __init__(self, model) -> None:
        self.model = model

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if (frame["minimum_nights"] < 0).any():
            raise ValueError("negative nights")
        return self.model.predict(frame)


def test_a_failing_request_does_not_fail_its_batch(packaged) -> None:
    model, frame = packaged

    class Holder:
        estimator = Picky(model.estimator)

    batcher = Batcher(Holder())
    good = model.prepare(frame.iloc[:2])
    bad = model.prepare(frame.iloc[2:3].assign(minimum_nights=-1))
    # queue both before the batch thread can take either, so they are tried together
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(batcher.predict, good)
        second = pool.submit(batcher.predict, bad)
        assert np.array_equal(first.result(), model.predict(frame.iloc[:2]))
        with pytest.raises(ModelError, match="negative nights"):
            second.result()


def test_served_concurrently_over_http_same_answers_as_alone(packaged) -> None:
    model, frame = packaged
    bodies = [
        json.dumps(
            {"dataframe_split": json.loads(frame.iloc[[i]].to_json(orient="split", index=False))}
        )
        for i in range(40)
    ]
    expected = [float(v) for v in model.predict(frame.iloc[:40])]
    with serve_in_thread(create_app(model)) as url:

        def post(body: str) -> float:
            resp = httpx.post(
                f"{url}/invocations", content=body, headers={"Content-Type": "application/json"}
            )
            assert resp.status_code == 200, resp.text
            return float(resp.json()["predictions"][0])

        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(post, bodies))
    assert got == pytest.approx(expected)


class Counting:
    """A packaged model whose estimator counts the rows of each predict call."""

    def __init__(self, model) -> None:
        self.model = model
        self.calls: list[int] = []
        outer = self

        class Estimator:
            def predict(self, frame: pd.DataFrame) -> np.ndarray:
                outer.calls.append(len(frame))
                return model.estimator.predict(frame)

        self.estimator = Estimator()

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.model.prepare(frame)


def _split_rows(frame: pd.DataFrame) -> tuple[tuple[str, ...], list[list]]:
    body = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    joinable = batch_rows(body)
    assert joinable is not None
    return joinable


def test_requests_waiting_on_the_loop_are_one_predict_call(packaged) -> None:
    model, frame = packaged
    counting = Counting(model)
    parts = [frame.iloc[i * 3 : i * 3 + 3] for i in range(4)]

    def alone() -> None:
        raise AssertionError("a batch that can be scored together is not scored alone")

    async def main() -> list:
        batcher = RowBatcher(counting)
        waiting = [batcher.submit(*_split_rows(p), alone, client=i) for i, p in enumerate(parts)]
        return await asyncio.gather(*waiting)

    got = asyncio.run(main())
    assert counting.calls == [12]
    for part, predictions in zip(parts, got, strict=True):
        assert np.array_equal(predictions, model.predict(part))


def test_a_bad_request_among_waiting_ones_gets_its_own_error(packaged) -> None:
    model, frame = packaged
    good = [frame.iloc[[0]], frame.iloc[[1]]]
    bad = frame.iloc[[2]].astype({"minimum_nights": object}).assign(minimum_nights="many")

    def alone(rows: pd.DataFrame):
        return lambda: model.predict(rows)

    async def main() -> list:
        batcher = RowBatcher(model)
        waiting = [batcher.submit(*_split_rows(r), alone(r)) for r in [good[0], bad, good[1]]]
        return await asyncio.gather(*waiting, return_exceptions=True)

    first, error, last = asyncio.run(main())
    assert np.array_equal(first, model.predict(good[0]))
    assert np.array_equal(last, model.predict(good[1]))
    assert isinstance(error, SignatureError) and error.column == "minimum_nights"


def test_only_plain_row_payloads_are_joined() -> None:
    assert batch_rows({"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}}) == (
        ("a",),
        [[1], [2]],
    )
    assert batch_rows({"dataframe_records": [{"a": 1, "b": 2}, {"b": 3, "a": 4}]}) == (
        ("a", "b"),
        [[1, 2], [4, 3]],
    )
    for doc in [
        {"dataframe_split": {"columns": ["a"], "data": [[1]], "index": [7]}},  # its own index
        {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}},  # a ragged row
        {"dataframe_records": [{"a": 1}, {"b": 2}]},  # rows with other keys
        {"dataframe_records": [{"a": 1}], "params": {"k": 1}},  # params
        {"inputs": [[1]]},
        [1, 2],
    ]:
        assert batch_rows(doc) is None, doc
