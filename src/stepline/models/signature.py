"""Model signatures in MLflow's JSON format: infer them from data, read them, enforce them.

A signature has an input schema, an optional output schema and optional params. A schema is
either a list of named columns (`ColSpec`: MLflow's `colspec`, for DataFrames) or a list of
tensors (`TensorSpec`, for arrays). In an `MLmodel` file each schema is stored as a JSON string:

    signature:
      inputs: '[{"type": "string", "name": "neighbourhood_group", "required": true}, ...]'
      outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
      params: null

`enforce(data, schema)` is what a loaded model runs before `predict`: it checks that every
required column is present (an error names the missing column), drops extra columns, orders
them as the signature does, and converts types where that loses nothing (int → double,
integral floats → long, ISO strings → datetime).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import ModelError, SignatureError

# MLflow's column types, in the order MLflow documents them.
COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")

_NUMPY_FOR_TYPE = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
}


@dataclass(frozen=True)
class ColSpec:
    """One named (or unnamed) column of an MLflow colspec schema."""

    type: str
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of an MLflow tensor schema: a numpy dtype and a shape (-1 = any)."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "tensor",
            "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)},
        }
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class Schema:
    """A list of `ColSpec` or of `TensorSpec` (never both)."""

    columns: tuple[ColSpec, ...] = ()
    tensors: tuple[TensorSpec, ...] = ()

    @property
    def is_tensor(self) -> bool:
        return bool(self.tensors)

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns if c.name is not None]

    def to_json(self) -> str:
        specs = self.tensors if self.is_tensor else self.columns
        return json.dumps([s.to_dict() for s in specs])

    @classmethod
    def from_json(cls, text: str) -> Schema:
        """Parse MLflow's JSON schema string."""
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"signature schema is not valid JSON: {exc}") from exc
        if not isinstance(items, list):
            raise ModelError("signature schema must be a JSON list of column or tensor specs")
        columns: list[ColSpec] = []
        tensors: list[TensorSpec] = []
        for item in items:
            if not isinstance(item, dict) or "type" not in item:
                raise ModelError(f"signature entry {item!r} has no 'type'")
            if item["type"] == "tensor":
                spec = item.get("tensor-spec") or {}
                tensors.append(
                    TensorSpec(
                        dtype=str(spec.get("dtype", "float64")),
                        shape=tuple(int(d) for d in spec.get("shape", [-1])),
                        name=item.get("name"),
                    )
                )
            else:
                # MLflow also has array/object/map types; keep them but never coerce them.
                columns.append(
                    ColSpec(
                        type=str(item["type"]),
                        name=item.get("name"),
                        required=bool(item.get("required", True)),
                    )
                )
        if columns and tensors:
            raise ModelError("a signature schema cannot mix column and tensor specs")
        return cls(columns=tuple(columns), tensors=tuple(tensors))


@dataclass(frozen=True)
class Signature:
    """A model signature: inputs, optional outputs, optional params (kept as MLflow JSON)."""

    inputs: Schema
    outputs: Schema | None = None
    params: list[dict[str, Any]] | None = field(default=None)

    def to_mlmodel(self) -> dict[str, Any]:
        """The `signature:` mapping of an MLmodel file."""
        return {
            "inputs": self.inputs.to_json(),
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": json.dumps(self.params) if self.params else None,
        }

    @classmethod
    def from_mlmodel(cls, data: dict[str, Any]) -> Signature:
        """Read the `signature:` mapping of an MLmodel file."""
        if not isinstance(data, dict) or not data.get("inputs"):
            raise ModelError("MLmodel 'signature' must have 'inputs'")
        outputs = Schema.from_json(data["outputs"]) if data.get("outputs") else None
        params = json.loads(data["params"]) if data.get("params") else None
        return cls(inputs=Schema.from_json(data["inputs"]), outputs=outputs, params=params)


# ---------------------------------------------------------------------------------------------
# Inference


def _column_type(series: Any, name: str) -> str:
    import pandas as pd
    from pandas.api import types as ptypes

    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        return "long" if dtype.itemsize >= 8 or str(dtype).startswith("uint32") else "integer"
    if ptypes.is_float_dtype(dtype):
        return "float" if dtype.itemsize == 4 else "double"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_type(series.astype(dtype.categories.dtype), name)
    if ptypes.is_string_dtype(dtype) and not ptypes.is_object_dtype(dtype):
        return "string"
    values = series.dropna()
    if len(values) == 0:
        return "string"
    kinds = {type(v) for v in values}
    if all(issubclass(k, str) for k in kinds):
        return "string"
    if all(issubclass(k, bytes | bytearray) for k in kinds):
        return "binary"
    if all(issubclass(k, bool) for k in kinds):
        return "boolean"
    raise ModelError(
        f"cannot infer a signature type for column {name!r}: it mixes "
        f"{sorted(k.__name__ for k in kinds)}; "
        "convert it to one type (e.g. df[col].astype(str)) before inferring the signature"
    )


def _schema_of(data: Any) -> Schema:
    import numpy as np
    import pandas as pd

    if isinstance(data, dict):
        data = pd.DataFrame(data)
    if isinstance(data, pd.DataFrame):
        cols = []
        for name in data.columns:
            series = data[name]
            cols.append(
                ColSpec(
                    type=_column_type(series, str(name)),
                    name=str(name),
                    required=not bool(series.isna().any()),
                )
            )
        return Schema(columns=tuple(cols))
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema(
            columns=(
                ColSpec(
                    type=_column_type(data, name or "0"),
                    name=name,
                    required=not bool(data.isna().any()),
                ),
            )
        )
    array = np.asarray(data)
    shape = (-1, *array.shape[1:]) if array.ndim >= 1 else (-1,)
    return Schema(tensors=(TensorSpec(dtype=str(array.dtype), shape=tuple(shape)),))


def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """Infer a `Signature` from example inputs (and outputs), as `mlflow.models.infer_signature`.

    Example:
        >>> sig = infer_signature(X_val, pipe.predict(X_val))
    """
    inputs = _schema_of(model_input)
    outputs = _schema_of(model_output) if model_output is not None else None
    return Signature(inputs=inputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------
# Enforcement


def _coerce_column(series: Any, spec: ColSpec) -> Any:
    """Return `series` converted to `spec.type`, or raise SignatureError naming the column."""
    import numpy as np
    import pandas as pd
    from pandas.api import types as ptypes

    name = spec.name or "?"
    dtype = series.dtype
    kind = spec.type

    def bad(reason: str) -> SignatureError:
        return SignatureError(
            f"column {name!r} must be {kind} (signature), but {reason}", column=spec.name
        )

    if kind == "string":
        if ptypes.is_numeric_dtype(dtype) and not series.isna().all():
            raise bad(f"got {dtype} values")
        if ptypes.is_object_dtype(dtype):
            if ptypes.infer_dtype(series, skipna=True) not in ("string", "empty"):
                wrong = series[series.notna() & ~series.map(lambda v: isinstance(v, str))]
                raise bad(f"value {wrong.iloc[0]!r} is not a string")
            missing = series.isna()
            if missing.any() and not spec.required:
                # JSON null (None) becomes NaN, what a CSV's empty cell reads as and what
                # scikit-learn's imputers take for missing (a None they pass on, unimputed)
                return series.where(~missing, np.nan)
        return series
    if kind in ("double", "float"):
        if ptypes.is_bool_dtype(dtype):
            raise bad("got booleans")
        if ptypes.is_numeric_dtype(dtype):
            return series.astype(_NUMPY_FOR_TYPE[kind])
        converted = pd.to_numeric(series, errors="coerce")
        broken = converted.isna() & series.notna()
        if broken.any():
            raise bad(f"value {series[broken].iloc[0]!r} is not a number")
        return converted.astype(_NUMPY_FOR_TYPE[kind])
    if kind in ("long", "integer"):
        if ptypes.is_bool_dtype(dtype):
            raise bad("got booleans")
        if ptypes.is_integer_dtype(dtype):
            return series.astype(_NUMPY_FOR_TYPE[kind])
        converted = pd.to_numeric(series, errors="coerce")
        if converted.isna().any():
            if not spec.required and series.isna().all():
                return converted
            raise bad(
                "it has missing or non-numeric values (an integer column cannot hold NaN; "
                "declare it as double when it can be missing)"
            )
        values = converted.to_numpy()
        if not np.all(np.equal(np.mod(values, 1), 0)):
            raise bad("it has non-integral values")
        return converted.astype(_NUMPY_FOR_TYPE[kind])
    if kind == "boolean":
        if ptypes.is_bool_dtype(dtype):
            return series
        values = series.dropna()
        if all(isinstance(v, bool | np.bool_) for v in values):
            return series
        raise bad(f"got {dtype} values")
    if kind == "datetime":
        if ptypes.is_datetime64_any_dtype(dtype):
            return series
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError) as exc:
            raise bad(f"its values do not parse as dates ({exc})") from exc
    if kind == "binary":
        return series
    return series  # array/object/map: passed through unchecked


def enforce(data: Any, schema: Schema) -> Any:
    """Check and convert `data` to match `schema`; raise `SignatureError` naming the column.

    Returns a DataFrame (colspec schema) or a numpy array (tensor schema).
    """
    import numpy as np
    import pandas as pd

    if schema.is_tensor:
        spec = schema.tensors[0]
        array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        expected_rest = spec.shape[1:]
        if len(expected_rest) != array.ndim - 1 or any(
            e not in (-1, a) for e, a in zip(expected_rest, array.shape[1:], strict=False)
        ):
            raise SignatureError(
                f"input shape {list(array.shape)} does not match the signature's {list(spec.shape)}"
            )
        try:
            return array.astype(spec.dtype, casting="same_kind")
        except TypeError as exc:
            raise SignatureError(f"cannot convert input of {array.dtype} to {spec.dtype}") from exc

    names = schema.column_names()
    if not isinstance(data, pd.DataFrame):
        if isinstance(data, dict):
            data = pd.DataFrame(data)
        elif isinstance(data, list) and data and isinstance(data[0], dict):
            data = pd.DataFrame.from_records(data)
        else:
            array = np.asarray(data, dtype=object)
            if array.ndim == 1:
                array = array.reshape(1, -1)
            if array.ndim != 2 or (names and array.shape[1] != len(names)):
                raise SignatureError(
                    f"input has shape {list(array.shape)}; the signature expects "
                    f"{len(names)} columns: {names}"
                )
            data = pd.DataFrame(array, columns=names or None).infer_objects()
    if not names:  # unnamed columns: positional
        return data
    present = {str(c) for c in data.columns}
    missing = [c.name for c in schema.columns if c.required and c.name not in present]
    if missing:
        raise SignatureError(
            f"input is missing column {missing[0]!r} required by the model's signature "
            f"(missing: {missing}; expected columns: {names})",
            column=missing[0],
        )
    data = data.rename(columns=str)
    out = {}
    for col in schema.columns:
        assert col.name is not None
        if col.name in present:
            out[col.name] = _coerce_column(data[col.name], col)
        else:
            numeric = col.type in ("double", "float")
            out[col.name] = pd.Series(
                np.nan if numeric else None,
                index=data.index,
                dtype=_NUMPY_FOR_TYPE[col.type] if numeric else object,
            )
    return pd.DataFrame(out, index=data.index)
