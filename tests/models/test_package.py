"""Model packages: save/load, MLflow's layout both ways, and the trust rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from stepline.errors import ModelError
from stepline.models import UntrustedModel, infer_signature, load, read_mlmodel, save

from .conftest import FIXTURES


def days_since(values: np.ndarray) -> np.ndarray:
    """A user function: skops stores it by reference, so it is not known safe."""
    return np.asarray(values, dtype=float) * 2


def test_save_writes_mlflow_layout(tmp_path: Path, rental) -> None:
    frame, _, model = rental
    sig = infer_signature(frame, model.predict(frame))
    out = save(
        model, tmp_path / "pkg", signature=sig, input_example=frame.iloc[:2], metadata={"r2": 0.9}
    )
    names = {p.name for p in out.iterdir()}
    assert names == {
        "MLmodel",
        "model.skops",
        "input_example.json",
        "serving_input_example.json",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
    }
    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert pyfunc["model_path"] == "model.skops"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    sk = mlmodel["flavors"]["sklearn"]
    assert sk["serialization_format"] == "skops" and sk["pickled_model"] == "model.skops"
    assert "sklearn.tree._tree.Tree" in sk["skops_trusted_types"]
    assert mlmodel["saved_input_example_info"]["pandas_orient"] == "split"
    assert mlmodel["metadata"] == {"r2": 0.9}
    assert len(mlmodel["model_uuid"]) == 32 and mlmodel["model_size_bytes"] > 1000
    example = json.loads((out / "input_example.json").read_text())
    assert example["columns"] == list(frame.columns) and len(example["data"]) == 2
    serving = json.loads((out / "serving_input_example.json").read_text())
    assert serving["dataframe_split"] == example
    reqs = (out / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert any(r.startswith("skops==") for r in reqs)
    env = yaml.safe_load((out / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]


def test_roundtrip_predicts_the_same(tmp_path: Path, rental) -> None:
    frame, _, model = rental
    save(model, tmp_path / "pkg", input_example=frame.iloc[:3])
    loaded = load(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))
    assert loaded.signature is not None  # inferred from the example
    assert list(loaded.input_example.columns) == list(frame.columns)
    # NaN in the example was written as JSON null and reads back as NaN
    text = (tmp_path / "pkg" / "input_example.json").read_text()
    assert "NaN" not in text


def test_save_refuses_a_non_empty_directory(tmp_path: Path, rental) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "keep.txt").write_text("x")
    with pytest.raises(ModelError, match="not empty"):
        save(rental[2], tmp_path / "pkg")
    assert (tmp_path / "pkg" / "keep.txt").exists()


def test_loads_mlflow_written_skops_package_without_trust() -> None:
    model = load(FIXTURES / "mlflow_skops")
    example = model.input_example
    assert list(example.columns) == ["neighbourhood_group", "minimum_nights", "reviews_per_month"]
    assert model.predict(example).shape == (2,)
    assert model.signature is not None
    assert not model.signature.inputs.columns[2].required


def test_mlflow_cloudpickle_package_needs_trust() -> None:
    with pytest.raises(UntrustedModel, match="trust=True") as err:
        load(FIXTURES / "mlflow_cloudpickle")
    assert "cloudpickle" in str(err.value)
    trusted = load(FIXTURES / "mlflow_cloudpickle", trust=True)
    safe = load(FIXTURES / "mlflow_skops")
    example = safe.input_example
    np.testing.assert_allclose(trusted.predict(example), safe.predict(example))


def test_pickle_package_saved_by_stepline_also_needs_trust(tmp_path: Path, rental) -> None:
    frame, _, model = rental
    save(model, tmp_path / "pkg", serialization="cloudpickle")
    assert (tmp_path / "pkg" / "model.pkl").is_file()
    with pytest.raises(UntrustedModel):
        load(tmp_path / "pkg")
    np.testing.assert_allclose(
        load(tmp_path / "pkg", trust=True).predict(frame), model.predict(frame)
    )


def test_user_function_is_refused_until_trusted(tmp_path: Path) -> None:
    model = make_pipeline(FunctionTransformer(days_since), LinearRegression())
    model.fit(np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 2.0, 3.0]))
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    save(model, tmp_path / "pkg", signature=infer_signature(frame))
    with pytest.raises(UntrustedModel) as err:
        load(tmp_path / "pkg")
    name = f"{days_since.__module__}.days_since"
    assert err.value.types == [name]
    assert name in str(err.value)
    # recording the type in MLmodel (as a tampered package would) does not make it trusted
    mlmodel = read_mlmodel(tmp_path / "pkg")
    assert name in mlmodel["flavors"]["sklearn"]["skops_trusted_types"]
    loaded = load(tmp_path / "pkg", trust=[name])
    assert loaded.trusted_types and name in loaded.trusted_types


def test_bad_packages_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no MLmodel"):
        load(tmp_path)
    (tmp_path / "MLmodel").write_text("flavors: {keras: {}}\n")
    with pytest.raises(ModelError, match="'sklearn'"):
        load(tmp_path)
    (tmp_path / "MLmodel").write_text(
        "flavors: {sklearn: {pickled_model: ../../etc/passwd, serialization_format: skops}}\n"
    )
    with pytest.raises(ModelError, match="outside the package"):
        load(tmp_path)
    with pytest.raises(ModelError, match="neither an existing path nor a reference"):
        load("not a reference!")


def test_finds_package_nested_in_a_downloaded_artifact(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "mlflow_skops", tmp_path / "download" / "model")
    assert load(tmp_path / "download").path == tmp_path / "download" / "model"


def _mlflow_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python with mlflow-skinny: $STEPLINE_TEST_MLFLOW_PYTHON, or a uv venv built here
    with the same scikit-learn/pandas/skops as this process (skipped when uv or PyPI is
    unavailable)."""
    given = os.environ.get("STEPLINE_TEST_MLFLOW_PYTHON")
    if given:
        return given
    from stepline.envs.uv import uv_bin

    uv = uv_bin()
    from importlib.metadata import version

    venv = tmp_path_factory.mktemp("mlflow") / "venv"
    pins = [f"{d}=={version(d)}" for d in ("scikit-learn", "pandas", "skops", "numpy")]
    try:
        subprocess.run(
            [uv, "venv", "-q", "-p", sys.executable, str(venv)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "-q",
                "-p",
                str(venv / "bin" / "python"),
                "mlflow-skinny",
                *pins,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"cannot build an mlflow venv: {stderr.decode()[-300:]}")
    return str(venv / "bin" / "python")


def test_mlflow_loads_a_stepline_package(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, rental
) -> None:
    python = _mlflow_python(tmp_path_factory)
    frame, _, model = rental
    save(model, tmp_path / "pkg", input_example=frame.iloc[:2])
    script = (
        "import json, sys, mlflow.pyfunc, mlflow.sklearn, pandas as pd\n"
        "m = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "assert type(mlflow.sklearn.load_model(sys.argv[1])).__name__ == 'Pipeline'\n"
        "ex = json.load(open(sys.argv[1] + '/input_example.json'))\n"
        "print(json.dumps(m.predict(pd.DataFrame(**ex)).tolist()))\n"
    )
    env = {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [python, "-c", script, str(tmp_path / "pkg")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    predicted = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(predicted, model.predict(frame.iloc[:2]))


def test_function_from_main_is_refused_at_save(tmp_path: Path) -> None:
    def feature(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float)

    feature.__module__ = "__main__"
    model = make_pipeline(FunctionTransformer(feature), LinearRegression())
    model.fit(np.array([[1.0], [2.0]]), np.array([1.0, 2.0]))
    with pytest.raises(ModelError, match="code_paths"):
        save(model, tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()  # nothing half-written is left behind
    save(model, tmp_path / "pickled", serialization="cloudpickle")  # by value: allowed


def test_code_paths_ship_user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "rental_features.py").write_text(
        "import numpy as np\n\ndef double(values):\n    return np.asarray(values, float) * 2\n"
    )
    monkeypatch.syspath_prepend(str(src))
    import rental_features  # type: ignore[import-not-found]

    model = make_pipeline(FunctionTransformer(rental_features.double), LinearRegression())
    model.fit(np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0]))
    frame = pd.DataFrame({"x": [5.0]})
    save(
        model,
        tmp_path / "pkg",
        signature=infer_signature(frame),
        code_paths=[src / "rental_features.py"],
    )
    assert (tmp_path / "pkg" / "code" / "rental_features.py").is_file()
    assert read_mlmodel(tmp_path / "pkg")["flavors"]["sklearn"]["code"] == "code"
    # forget the module: the package must bring its own copy
    monkeypatch.delitem(sys.modules, "rental_features")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(src)])
    with pytest.raises(UntrustedModel, match=r"rental_features\.double"):
        load(tmp_path / "pkg")
    loaded = load(tmp_path / "pkg", trust=["rental_features.double"])
    np.testing.assert_allclose(loaded.predict(frame), [10.0])
    assert sys.modules["rental_features"].__file__.startswith(str(tmp_path / "pkg"))


@pytest.mark.parametrize("content", ["pickle", "garbage", "empty"])
def test_a_file_that_is_not_skops_is_refused_naming_it(tmp_path: Path, rental, content) -> None:
    """A pickle (or anything else) saved as model.skops: a clear error, nothing unpickled."""
    import pickle

    model = rental[2]
    save(model, tmp_path / "pkg")
    file = tmp_path / "pkg" / "model.skops"
    data = {"pickle": pickle.dumps(model), "garbage": b"not a model\n", "empty": b""}[content]
    file.write_bytes(data)
    with pytest.raises(ModelError) as err:
        load(tmp_path / "pkg")
    message = str(err.value)
    assert str(file) in message
    assert "is not a skops file" in message
    if content == "pickle":
        assert "pickle" in message and "serialization_format: pickle" in message
    with pytest.raises(ModelError, match="is not a skops file"):
        load(tmp_path / "pkg", trust=True)
