"""Model packages: MLflow-compatible directories with an `MLmodel` file.

Layout written by `save` (the same as `mlflow.sklearn.save_model`):

    MLmodel                     flavors python_function + sklearn, signature, input example info
    model.skops | model.pkl     the estimator (skops by default, see `serialize`)
    input_example.json          pandas "split" orient, no index: {"columns": [..], "data": [..]}
    serving_input_example.json  the same wrapped as an /invocations body: {"dataframe_split": ...}
    requirements.txt  python_env.yaml  conda.yaml
    reference_profile.json      with `reference_data`: the training data's profile (monitoring)

MLflow reads stepline's packages with `mlflow.sklearn.load_model` / `mlflow.pyfunc.load_model`,
and `load` reads MLflow's (pickle ones only with `trust=True`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from stepline.errors import ModelError, SpecError
from stepline.formats.yaml import load_yaml
from stepline.models.environment import CONDA_ENV, PYTHON_ENV, write_environment
from stepline.models.serialize import (
    FILE_NAMES,
    SKOPS,
    Trust,
    dump_estimator,
    load_estimator,
)
from stepline.models.signature import Schema, Signature, enforce, infer_signature

MLMODEL = "MLmodel"
INPUT_EXAMPLE = "input_example.json"
SERVING_INPUT_EXAMPLE = "serving_input_example.json"
CODE_DIR = "code"


def _stepline_version() -> str:
    try:
        from stepline._version import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "unknown"


def _json_value(value: Any) -> Any:
    """A JSON-safe scalar: NaN/NaT → None, numpy scalars → Python, timestamps → ISO."""
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, float | np.floating) and math.isnan(float(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    return value


def _example_frame(input_example: Any) -> Any:
    import pandas as pd

    if isinstance(input_example, pd.DataFrame):
        return input_example
    if isinstance(input_example, dict):
        return pd.DataFrame(input_example)
    if isinstance(input_example, pd.Series):
        return input_example.to_frame()
    return None


def _write_input_example(root: Path, input_example: Any) -> dict[str, Any]:
    import numpy as np

    frame = _example_frame(input_example)
    if frame is not None:
        split = {
            "columns": [str(c) for c in frame.columns],
            "data": [[_json_value(v) for v in row] for row in frame.itertuples(index=False)],
        }
        (root / INPUT_EXAMPLE).write_text(json.dumps(split))
        (root / SERVING_INPUT_EXAMPLE).write_text(json.dumps({"dataframe_split": split}, indent=2))
        return {
            "artifact_path": INPUT_EXAMPLE,
            "pandas_orient": "split",
            "serving_input_path": SERVING_INPUT_EXAMPLE,
            "type": "dataframe",
        }
    array = np.asarray(input_example)
    body = {"inputs": array.tolist()}
    (root / INPUT_EXAMPLE).write_text(json.dumps(body))
    (root / SERVING_INPUT_EXAMPLE).write_text(json.dumps(body, indent=2))
    return {
        "artifact_path": INPUT_EXAMPLE,
        "format": "tf-serving",
        "serving_input_path": SERVING_INPUT_EXAMPLE,
        "type": "ndarray",
    }


def _copy_code(root: Path, code_paths: Sequence[str | Path] | None) -> str | None:
    """Copy user code into `root/code/` (MLflow's layout); return "code" or None."""
    if not code_paths:
        return None
    target = root / CODE_DIR
    target.mkdir()
    for item in code_paths:
        source = Path(item)
        if source.is_dir():
            shutil.copytree(
                source, target / source.name, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif source.is_file():
            shutil.copy2(source, target / source.name)
        else:
            raise ModelError(f"code path {source} does not exist")
    return CODE_DIR


def _add_code_to_path(root: Path, mlmodel: dict[str, Any]) -> None:
    """Append the package's `code/` to sys.path (appended: it can never shadow an installed
    package such as sklearn)."""
    import sys

    code = mlmodel["flavors"]["sklearn"].get("code") or mlmodel["flavors"].get(
        "python_function", {}
    ).get("code")
    if not code:
        return
    directory = (root / str(code)).resolve()
    if root.resolve() not in directory.parents or not directory.is_dir():
        raise ModelError(f"{root / MLMODEL}: code directory {code!r} is not inside the package")
    if str(directory) not in sys.path:
        sys.path.append(str(directory))


def _dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def save(
    model: Any,
    path: str | Path,
    signature: Signature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    serialization: str = SKOPS,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | Path] | None = None,
    reference_data: Any = None,
) -> Path:
    """Write `model` (a fitted scikit-learn estimator) as an MLflow-compatible package.

    `path` must not exist or be an empty directory. Without a signature, one is inferred from
    `input_example` and the model's predictions on it. `code_paths`: files or directories of
    Python code the model refers to (a feature function, say), copied into `code/` and put on
    `sys.path` when the package is loaded with trust. Returns the package directory.

    A skops package cannot refer to a function defined in `__main__` (the script that trained
    it): no other process could import it. Move it into a module (and pass that module in
    `code_paths`), or save with serialization="cloudpickle".

    Example:
        >>> stepline.models.save(pipe, "random_forest_dir", input_example=X_val.iloc[:2],
        ...                      signature=infer_signature(X_val, pipe.predict(X_val)))
    """
    import sklearn

    root = Path(path)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ModelError(f"cannot save a model package to {root}: it exists and is not empty")
    if not hasattr(model, "predict"):
        raise ModelError(f"{type(model).__name__} has no predict(); it cannot be packaged")
    if signature is not None and not isinstance(signature, Signature):
        raise ModelError("signature must be a stepline.models.Signature (see infer_signature)")
    root.mkdir(parents=True, exist_ok=True)
    try:
        model_file = FILE_NAMES.get(serialization, "model.pkl")
        trusted = dump_estimator(model, root / model_file, serialization)
        in_main = [t for t in trusted if t.startswith("__main__.")]
        if in_main:
            raise ModelError(
                f"the model refers to {in_main}, defined in the script that trained it; another "
                "process cannot import it. Move it into a module imported by the script and "
                "pass that module in code_paths=[...], or save with "
                "serialization='cloudpickle' (loading then needs trust=True)"
            )
        code_dir = _copy_code(root, code_paths)
        example_info = None
        if input_example is not None:
            example_info = _write_input_example(root, input_example)
            if signature is None:
                frame = _example_frame(input_example)
                sample = frame if frame is not None else input_example
                signature = infer_signature(sample, model.predict(sample))
        python_version = platform.python_version()
        mlmodel: dict[str, Any] = {
            "flavors": {
                "python_function": {
                    "env": {"conda": CONDA_ENV, "virtualenv": PYTHON_ENV},
                    "loader_module": "mlflow.sklearn",
                    "model_path": model_file,
                    "predict_fn": "predict",
                    "code": code_dir,
                    "python_version": python_version,
                },
                "sklearn": {
                    "code": code_dir,
                    "pickled_model": model_file,
                    "serialization_format": serialization,
                    "sklearn_version": sklearn.__version__,
                    "skops_trusted_types": trusted or None,
                },
            },
            "model_uuid": uuid.uuid4().hex,
            "stepline_version": _stepline_version(),
            "utc_time_created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
        }
        if example_info is not None:
            mlmodel["saved_input_example_info"] = example_info
        if signature is not None:
            mlmodel["signature"] = signature.to_mlmodel()
        if metadata:
            mlmodel["metadata"] = metadata
        if reference_data is not None:
            from stepline.monitor.reference import write_reference

            write_reference(root, model, reference_data)
        mlmodel["model_size_bytes"] = _dir_size(root)
        (root / MLMODEL).write_text(yaml.safe_dump(mlmodel, sort_keys=True))
        write_environment(root, serialization, pip_requirements, extra_pip_requirements)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


class PackagedModel:
    """A loaded model package: the estimator plus what its MLmodel says about it.

    `predict(data)` enforces the signature first (like `mlflow.pyfunc`): a missing column is a
    `SignatureError` naming it; types are converted where that loses nothing.
    """

    def __init__(
        self, path: Path, mlmodel: dict[str, Any], estimator: Any, trusted_types: list[str]
    ) -> None:
        self.path = path
        self.mlmodel = mlmodel
        self.estimator = estimator
        self.trusted_types = trusted_types
        sig = mlmodel.get("signature")
        self.signature: Signature | None = Signature.from_mlmodel(sig) if sig else None

    @property
    def serialization_format(self) -> str:
        return str(self.mlmodel["flavors"]["sklearn"].get("serialization_format", "pickle"))

    @property
    def model_uuid(self) -> str | None:
        return self.mlmodel.get("model_uuid")

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.mlmodel.get("metadata") or {})

    @property
    def input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature else None

    @property
    def input_example(self) -> Any:
        """The saved input example as a DataFrame (or array), or None."""
        info = self.mlmodel.get("saved_input_example_info") or {}
        name = info.get("artifact_path")
        if not name or not (self.path / name).is_file():
            return None
        body = json.loads((self.path / name).read_text())
        if info.get("type") == "dataframe":
            import pandas as pd

            frame = pd.DataFrame(body["data"], columns=body.get("columns"))
            schema = self.input_schema
            return enforce(frame, schema) if schema is not None else frame
        import numpy as np

        return np.asarray(body.get("inputs", body))

    def prepare(self, data: Any) -> Any:
        """Return `data` checked and converted to the input signature (no-op without one)."""
        schema = self.input_schema
        if schema is None:
            import pandas as pd

            if isinstance(data, dict):
                return pd.DataFrame(data)
            return data
        return enforce(data, schema)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict on a DataFrame (or dict/records/array) after enforcing the signature."""
        prepared = self.prepare(data)
        try:
            return self.estimator.predict(prepared)
        except Exception as exc:
            raise ModelError(f"the model failed to predict: {type(exc).__name__}: {exc}") from exc

    def __repr__(self) -> str:
        return f"PackagedModel({str(self.path)!r}, {type(self.estimator).__name__})"


def read_mlmodel(root: Path) -> dict[str, Any]:
    """Parse `root/MLmodel` safely; raise ModelError naming the file on any problem."""
    file = root / MLMODEL
    if not file.is_file():
        raise ModelError(f"{root} is not a model package: it has no {MLMODEL} file")
    try:
        data = load_yaml(file).data
    except SpecError as exc:  # names file, line and column
        raise ModelError(str(exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise ModelError(f"{file} has no 'flavors' mapping")
    if "sklearn" not in data["flavors"]:
        raise ModelError(
            f"{file} has flavors {sorted(data['flavors'])}; stepline loads 'sklearn' packages"
        )
    return data


def load_package(root: str | Path, trust: Trust = False) -> PackagedModel:
    """Load the package in directory `root` (see `stepline.models.load` for references)."""
    root = Path(root)
    if root.is_file() and root.name == MLMODEL:
        root = root.parent
    mlmodel = read_mlmodel(root)
    flavor = mlmodel["flavors"]["sklearn"]
    model_file = flavor.get("pickled_model") or mlmodel["flavors"].get("python_function", {}).get(
        "model_path"
    )
    if not model_file:
        raise ModelError(f"{root / MLMODEL}: the sklearn flavor names no model file")
    file = (root / str(model_file)).resolve()
    if root.resolve() not in file.parents:
        raise ModelError(f"{root / MLMODEL}: model file {model_file!r} lies outside the package")
    fmt = str(flavor.get("serialization_format") or "pickle")
    if trust is True or (not isinstance(trust, bool) and len(trust) > 0):
        # code shipped in the package runs only when the caller trusts something beyond
        # scikit-learn/NumPy/SciPy; otherwise the trust check refuses its types anyway.
        _add_code_to_path(root, mlmodel)
    estimator, trusted = load_estimator(file, fmt, trust)
    return PackagedModel(root, mlmodel, estimator, trusted)
