"""Model packages (MLflow-compatible), signatures, serving and batch scoring.

Example:
    >>> import stepline.models as models
    >>> models.save(pipe, "export", input_example=X.iloc[:2],
    ...             signature=models.infer_signature(X, pipe.predict(X)))
    >>> model = models.load("random_forest_export:prod")   # or a path
    >>> model.predict(X_test)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepline.models.package import PackagedModel, load_package, read_mlmodel, save
from stepline.models.resolve import resolve_model_dir, set_registry_resolver
from stepline.models.serialize import Trust, UntrustedModel
from stepline.models.signature import (
    ColSpec,
    Schema,
    Signature,
    SignatureError,
    TensorSpec,
    infer_signature,
)


def load(ref: str | Path, trust: Trust = False, run: Any = None) -> PackagedModel:
    """Load a model package from a path, an artifact reference or a registry reference.

    `trust`: False (default) loads skops packages whose types are known safe; a list of type
    names trusts those too; True also unpickles pickle/cloudpickle packages (run code from
    the file). `run`: when given, an artifact is fetched with `run.use_artifact` (lineage).

    Example:
        >>> model = load("random_forest_export:prod")
        >>> model.predict(df)          # enforces the signature
        >>> model.estimator            # the scikit-learn object
    """
    return load_package(resolve_model_dir(ref, run=run), trust=trust)


__all__ = [
    "ColSpec",
    "PackagedModel",
    "Schema",
    "Signature",
    "SignatureError",
    "TensorSpec",
    "Trust",
    "UntrustedModel",
    "infer_signature",
    "load",
    "read_mlmodel",
    "resolve_model_dir",
    "save",
    "set_registry_resolver",
]
