"""Batch scoring and the `serve` / `predict` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from stepline.cli import cli
from stepline.errors import ModelError
from stepline.models import save
from stepline.models.predict import predict
from stepline.models.serving import free_port

from .conftest import FIXTURES

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, rental) -> Path:
    frame, _, model = rental
    return save(model, tmp_path_factory.mktemp("pkg") / "pkg", input_example=frame.iloc[:2])


def test_predict_writes_one_prediction_per_row(tmp_path: Path, package: Path, rental) -> None:
    frame, _, model = rental
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = predict(package, tmp_path / "in.csv", tmp_path / "out" / "scored.csv", chunk_rows=50)
    out = pd.read_csv(result.output)
    assert result.rows == len(frame) == len(out)
    assert list(out.columns) == ["prediction"]
    np.testing.assert_allclose(out["prediction"], model.predict(frame))
    assert not (tmp_path / "out" / "scored.csv.partial").exists()


def test_predict_keep_columns_and_bad_input(tmp_path: Path, package: Path, rental) -> None:
    frame = rental[0]
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = predict(package, tmp_path / "in.csv", tmp_path / "o.csv", keep_columns=True)
    assert result.columns == [*frame.columns, "prediction"]
    frame.drop(columns=["minimum_nights"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ModelError, match="minimum_nights"):
        predict(package, tmp_path / "bad.csv", tmp_path / "b.csv")
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "b.csv.partial").exists()


def test_cli_predict(tmp_path: Path, package: Path, rental) -> None:
    rental[0].to_csv(tmp_path / "in.csv", index=False)
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "predict",
            str(package),
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "o.csv"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rows"] == len(rental[0])
    res = runner.invoke(
        cli,
        [
            "predict",
            str(FIXTURES / "mlflow_cloudpickle"),
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "p.csv"),
        ],
    )
    assert res.exit_code == 1 and "trust" in res.output
    res = runner.invoke(
        cli,
        [
            "predict",
            str(FIXTURES / "mlflow_cloudpickle"),
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "p.csv"),
            "--trust",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(rental[0])


def test_cli_serve_in_a_subprocess(package: Path, rental) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stepline.cli.models",
            "serve",
            str(package),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not answer /ping"
            time.sleep(0.1)
        frame, _, model = rental
        body = {"dataframe_split": json.loads(frame.iloc[:3].to_json(orient="split", index=False))}
        resp = httpx.post(f"{url}/invocations", json=body)
        assert resp.status_code == 200, resp.text
        np.testing.assert_allclose(resp.json()["predictions"], model.predict(frame.iloc[:3]))
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_serve_reports_a_bad_model(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["serve", str(tmp_path)])
    assert res.exit_code == 1 and "no model package" in res.output


def test_cli_trust_type_for_user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    src = tmp_path / "src"
    src.mkdir()
    (src / "cli_features.py").write_text(
        "import numpy as np\n\ndef triple(values):\n    return np.asarray(values, float) * 3\n"
    )
    monkeypatch.syspath_prepend(str(src))
    import cli_features  # type: ignore[import-not-found]

    model = make_pipeline(FunctionTransformer(cli_features.triple), LinearRegression())
    model.fit(pd.DataFrame({"x": [1.0, 2.0]}), [3.0, 6.0])
    save(
        model,
        tmp_path / "pkg",
        input_example=pd.DataFrame({"x": [1.0]}),
        code_paths=[src / "cli_features.py"],
    )
    monkeypatch.delitem(sys.modules, "cli_features")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(src)])
    pd.DataFrame({"x": [2.0, 4.0]}).to_csv(tmp_path / "in.csv", index=False)
    args = [
        "predict",
        str(tmp_path / "pkg"),
        str(tmp_path / "in.csv"),
        "-o",
        str(tmp_path / "out.csv"),
    ]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1
    assert "--trust-type cli_features.triple" in refused.output
    ok = CliRunner().invoke(cli, [*args, "--trust-type", "cli_features.triple"])
    assert ok.exit_code == 0, ok.output
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")["prediction"], [6.0, 12.0])
