"""The scoring server over real HTTP: uvicorn on 127.0.0.1, httpx as the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from stepline.models import PackagedModel, load, save
from stepline.models.serving import create_app, serve_in_thread


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, rental) -> PackagedModel:
    frame, _, model = rental
    path = tmp_path_factory.mktemp("serving") / "pkg"
    save(model, path, input_example=frame.iloc[:2])
    return load(path)


@pytest.fixture(scope="module")
def client(packaged: PackagedModel) -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(packaged)) as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.fixture(scope="module")
def rows(rental) -> pd.DataFrame:
    return rental[0].iloc[:4].reset_index(drop=True)


def _expected(packaged: PackagedModel, rows: pd.DataFrame) -> list[float]:
    return packaged.estimator.predict(rows).tolist()


def test_ping_health_version(client: httpx.Client, packaged: PackagedModel) -> None:
    assert client.get("/ping").status_code == 200
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["model_uuid"] == packaged.model_uuid
    from stepline import __version__

    assert client.get("/version").text == __version__


def _nan_to_none(rows: pd.DataFrame) -> list[list[object]]:
    return [
        [None if (isinstance(v, float) and np.isnan(v)) else v for v in r]
        for r in rows.astype(object).values.tolist()
    ]


def test_dataframe_split(client: httpx.Client, packaged: PackagedModel, rows) -> None:
    body = {"dataframe_split": {"columns": list(rows.columns), "data": _nan_to_none(rows)}}
    resp = client.post("/invocations", json=body)
    assert resp.status_code == 200, resp.text
    np.testing.assert_allclose(resp.json()["predictions"], _expected(packaged, rows))


def test_dataframe_records_instances_inputs_and_params(
    client: httpx.Client, packaged: PackagedModel, rows
) -> None:
    records = [dict(zip(rows.columns, r, strict=True)) for r in _nan_to_none(rows)]
    expected = _expected(packaged, rows)
    for body in (
        {"dataframe_records": records},
        {"instances": records},
        {"instances": _nan_to_none(rows)},
        {"inputs": {c: [r[c] for r in records] for c in rows.columns}},
        {"inputs": records, "params": {"ignored": 1}},
    ):
        resp = client.post("/invocations", json=body)
        assert resp.status_code == 200, (body, resp.text)
        np.testing.assert_allclose(resp.json()["predictions"], expected)


def test_csv(client: httpx.Client, packaged: PackagedModel, rows) -> None:
    resp = client.post(
        "/invocations", content=rows.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert resp.status_code == 200, resp.text
    np.testing.assert_allclose(resp.json()["predictions"], _expected(packaged, rows))


def test_missing_column_is_a_400_naming_it(client: httpx.Client, rows) -> None:
    body = {"dataframe_records": [{"neighbourhood_group": "Bronx", "reviews_per_month": 1.0}]}
    resp = client.post("/invocations", json=body)
    assert resp.status_code == 400
    err = resp.json()
    assert err["error_code"] == "INVALID_PARAMETER_VALUE" and err["column"] == "minimum_nights"
    assert "minimum_nights" in err["message"]


def test_wrong_type_is_a_400_naming_the_column(client: httpx.Client) -> None:
    row = {"neighbourhood_group": "Bronx", "minimum_nights": "many", "reviews_per_month": 1.0}
    resp = client.post("/invocations", json={"dataframe_records": [row]})
    assert resp.status_code == 400 and resp.json()["column"] == "minimum_nights"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"data": [[1]]}', "exactly one of"),
        (b'{"dataframe_split": {"columns": ["a"]}}', "'columns' and 'data'"),
        (b'{"dataframe_records": [1, 2]}', "list of objects"),
    ],
)
def test_malformed_bodies_are_400(client: httpx.Client, content: bytes, fragment: str) -> None:
    resp = client.post(
        "/invocations", content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert fragment in resp.json()["message"]


def test_other_content_type_is_415(client: httpx.Client) -> None:
    resp = client.post("/invocations", content=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415 and "text/csv" in resp.json()["message"]


def test_serves_an_mlflow_written_package(tmp_path: Path) -> None:
    from .conftest import FIXTURES

    model = load(FIXTURES / "mlflow_skops")
    example = (FIXTURES / "mlflow_skops" / "serving_input_example.json").read_bytes()
    with serve_in_thread(create_app(model)) as url:
        resp = httpx.post(
            f"{url}/invocations", content=example, headers={"Content-Type": "application/json"}
        )
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["predictions"]) == 2


def test_model_failing_on_the_rows_is_a_400(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"group": ["a", "b", "a"]})
    model = make_pipeline(OneHotEncoder(handle_unknown="error"), LinearRegression())
    model.fit(frame, [1.0, 2.0, 1.0])
    save(model, tmp_path / "pkg", input_example=frame)
    with serve_in_thread(create_app(load(tmp_path / "pkg"))) as url:
        resp = httpx.post(f"{url}/invocations", json={"dataframe_records": [{"group": "zzz"}]})
    assert resp.status_code == 400
    assert "failed to predict" in resp.json()["message"]
    assert "['group']" in resp.json()["message"]
