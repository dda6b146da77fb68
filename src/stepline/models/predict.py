"""Batch scoring: a CSV in, a CSV of predictions out.

Example:
    >>> predict("random_forest_export:prod", "test.csv", "scored.csv")
    BatchResult(rows=3801, output=PosixPath('scored.csv'), ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline.errors import ModelError
from stepline.models import load
from stepline.models.package import PackagedModel
from stepline.models.serialize import Trust

CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class BatchResult:
    """What `predict` wrote."""

    rows: int
    output: Path
    columns: list[str]
    model_path: Path


def _as_frame(predictions: Any, index: Any, column: str) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions.set_axis(index)
    if isinstance(predictions, pd.Series):
        return predictions.set_axis(index).to_frame(predictions.name or column)
    array = np.asarray(predictions)
    if array.ndim == 1:
        return pd.DataFrame({column: array}, index=index)
    flat = array.reshape(array.shape[0], -1)
    return pd.DataFrame(flat, index=index, columns=[f"{column}_{i}" for i in range(flat.shape[1])])


def predict(
    model: str | Path | PackagedModel,
    input_csv: str | Path,
    output_csv: str | Path,
    *,
    trust: Trust = False,
    keep_columns: bool = False,
    column: str = "prediction",
    chunk_rows: int = CHUNK_ROWS,
) -> BatchResult:
    """Score every row of `input_csv` with `model` and write `output_csv`.

    `model` is a path, an artifact or registry reference, or an already loaded package.
    The output has one `prediction` column (or `prediction_0..` for multi-output models), after
    the input columns when `keep_columns` is set. The input is read in chunks of `chunk_rows`.
    """
    import pandas as pd

    packaged = model if isinstance(model, PackagedModel) else load(model, trust=trust)
    source = Path(input_csv)
    if not source.is_file():
        raise ModelError(f"input file {source} does not exist")
    target = Path(output_csv)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    rows = 0
    columns: list[str] = []
    try:
        reader = pd.read_csv(source, chunksize=chunk_rows)
        with partial.open("w", newline="") as out:
            for chunk in reader:
                scored = _as_frame(packaged.predict(chunk), chunk.index, column)
                if keep_columns:
                    scored = pd.concat([chunk, scored], axis=1)
                scored.to_csv(out, index=False, header=rows == 0)
                columns = [str(c) for c in scored.columns]
                rows += len(chunk)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(f"cannot read {source} as CSV: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return BatchResult(rows=rows, output=target, columns=columns, model_path=packaged.path)
