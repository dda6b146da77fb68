"""Signatures: inference, MLflow's JSON format, enforcement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stepline.models import Signature, SignatureError, infer_signature
from stepline.models.signature import Schema, enforce


def test_infer_colspec_matches_mlflow_format() -> None:
    frame = pd.DataFrame(
        {
            "name": ["a", None],
            "nights": np.array([1, 2], dtype="int64"),
            "small": np.array([1, 2], dtype="int32"),
            "rate": [0.5, np.nan],
            "flag": [True, False],
            "when": pd.to_datetime(["2019-01-01", "2019-02-01"]),
        }
    )
    sig = infer_signature(frame, np.array([1.0, 2.0]))
    inputs = json.loads(sig.to_mlmodel()["inputs"])
    assert inputs == [
        {"type": "string", "name": "name", "required": False},
        {"type": "long", "name": "nights", "required": True},
        {"type": "integer", "name": "small", "required": True},
        {"type": "double", "name": "rate", "required": False},
        {"type": "boolean", "name": "flag", "required": True},
        {"type": "datetime", "name": "when", "required": True},
    ]
    outputs = json.loads(sig.to_mlmodel()["outputs"])
    assert outputs == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]
    assert sig.to_mlmodel()["params"] is None


def test_object_column_of_strings_is_string_and_mixed_is_an_error() -> None:
    ok = pd.DataFrame({"a": pd.Series(["x", "y"], dtype=object)})
    assert infer_signature(ok).inputs.columns[0].type == "string"
    with pytest.raises(Exception, match="'a'"):
        infer_signature(pd.DataFrame({"a": pd.Series(["x", 1], dtype=object)}))


def test_roundtrip_through_mlmodel_mapping() -> None:
    frame = pd.DataFrame({"a": [1.0], "b": ["x"]})
    sig = infer_signature(frame, pd.Series([1.0], name="price"))
    again = Signature.from_mlmodel(sig.to_mlmodel())
    assert again == sig
    assert again.outputs is not None and again.outputs.columns[0].name == "price"


def _schema() -> Schema:
    return infer_signature(
        pd.DataFrame({"group": ["x"], "nights": np.array([1], dtype="int64"), "rate": [0.5]})
    ).inputs


def test_enforce_missing_column_names_it() -> None:
    with pytest.raises(SignatureError) as err:
        enforce(pd.DataFrame({"group": ["x"], "rate": [1.0]}), _schema())
    assert err.value.column == "nights"
    assert "'nights'" in str(err.value)


def test_enforce_orders_drops_extras_and_coerces_safely() -> None:
    frame = pd.DataFrame(
        {"rate": [1, 2], "extra": ["z", "z"], "nights": [3.0, 4.0], "group": ["x", "y"]}
    )
    out = enforce(frame, _schema())
    assert list(out.columns) == ["group", "nights", "rate"]
    assert out["nights"].dtype == np.int64
    assert out["rate"].dtype == np.float64


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("nights", 2.5, "non-integral"),
        ("nights", None, "missing"),
        ("rate", "abc", "not a number"),
        ("group", 3, "must be string"),
    ],
)
def test_enforce_rejects_unsafe_values(column: str, value: object, fragment: str) -> None:
    row = {"group": "x", "nights": 1, "rate": 0.5}
    row[column] = value
    with pytest.raises(SignatureError) as err:
        enforce(pd.DataFrame([row]), _schema())
    assert err.value.column == column
    assert fragment in str(err.value)


def test_enforce_accepts_records_and_positional_rows() -> None:
    schema = _schema()
    records = enforce([{"group": "x", "nights": 1, "rate": 0.5}], schema)
    rows = enforce([["x", 1, 0.5]], schema)
    pd.testing.assert_frame_equal(records, rows)
    with pytest.raises(SignatureError, match="3 columns"):
        enforce([["x", 1]], schema)


def test_optional_column_may_be_absent() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]})
    schema = infer_signature(frame).inputs
    out = enforce(pd.DataFrame({"b": ["q"]}), schema)
    assert np.isnan(out.loc[0, "a"])


def test_tensor_schema_checks_trailing_shape() -> None:
    schema = infer_signature(np.zeros((4, 3))).inputs
    assert schema.is_tensor and schema.tensors[0].shape == (-1, 3)
    assert enforce([[1, 2, 3]], schema).dtype == np.float64
    with pytest.raises(SignatureError, match="shape"):
        enforce([[1, 2]], schema)
