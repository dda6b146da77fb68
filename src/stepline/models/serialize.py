"""Writing and reading the model file of a package: skops (safe, the default) or pickle.

Trust rules, applied by `load_estimator`:

- **skops**: the file lists the types it needs. Types skops trusts by default load as is. Of the
  rest, a *class* defined in scikit-learn, NumPy or SciPy, and a NumPy ufunc, are known safe
  (skops rebuilds them through its own protocol, no code of the file's choosing runs). Anything
  else (a function in `__main__`, a class from another package) must be trusted explicitly with
  `trust=["module.name", ...]` or `trust=True`. The list of trusted types recorded in the MLmodel
  file is *not* used to decide: it comes from the same, possibly tampered, directory.
- **pickle / cloudpickle**: unpickling runs whatever code the file contains, so it needs
  `trust=True`.
"""

from __future__ import annotations

import importlib
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepline.errors import ModelError, UntrustedModel, require

SKOPS = "skops"
PICKLE = "pickle"
CLOUDPICKLE = "cloudpickle"
FORMATS = (SKOPS, PICKLE, CLOUDPICKLE)
FILE_NAMES = {SKOPS: "model.skops", PICKLE: "model.pkl", CLOUDPICKLE: "model.pkl"}

_SAFE_PACKAGES = ("sklearn", "numpy", "scipy")

#: plain NumPy functions that compute on arrays and touch nothing else (feature code uses them
#: inside FunctionTransformer); anything that reads files, imports or evaluates stays untrusted
_SAFE_FUNCTIONS = frozenset(
    f"numpy.{name}"
    for name in (
        "asarray",
        "array",
        "reshape",
        "ravel",
        "squeeze",
        "stack",
        "hstack",
        "vstack",
        "concatenate",
        "where",
        "clip",
        "round",
        "busday_count",
        "datetime_as_string",
        "nan_to_num",
        "isnan",
        "mean",
        "sum",
        "min",
        "max",
    )
)

Trust = bool | Sequence[str]


def _resolve(dotted: str) -> Any:
    """Import `a.b.C` without running anything but the import of a safe package's module."""
    module_name, _, attr = dotted.rpartition(".")
    if not module_name or module_name.split(".")[0] not in _SAFE_PACKAGES:
        return None
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError):
        return None


def is_known_safe(type_name: str) -> bool:
    """True for classes of scikit-learn, NumPy or SciPy, NumPy ufuncs and a few pure functions."""
    import numpy as np

    obj = _resolve(type_name)
    if obj is None:
        return False
    return isinstance(obj, type | np.ufunc) or type_name in _SAFE_FUNCTIONS


def dump_estimator(model: Any, path: Path, fmt: str) -> list[str]:
    """Write `model` to `path` in `fmt`; return the non-default types a skops file needs."""
    if fmt not in FORMATS:
        raise ModelError(f"unknown serialization {fmt!r}; choose one of {list(FORMATS)}")
    if fmt == SKOPS:
        require("skops", "ml")
        import skops.io

        try:
            data = skops.io.dumps(model)
        except Exception as exc:  # skops raises TypeError and others for unsupported objects
            raise ModelError(
                f"skops cannot serialize this model ({type(exc).__name__}: {exc}); "
                "use serialization='cloudpickle' if you accept an unsafe-to-load package"
            ) from exc
        path.write_bytes(data)
        return sorted(skops.io.get_untrusted_types(data=data))
    if fmt == CLOUDPICKLE:
        require("cloudpickle", "ml")
        import cloudpickle

        path.write_bytes(cloudpickle.dumps(model))
    else:
        path.write_bytes(pickle.dumps(model, protocol=pickle.DEFAULT_PROTOCOL))
    return []


def _not_skops(path: Path, what: str) -> ModelError:
    return ModelError(
        f"model file {path} is not a skops file ({what}), though the package's MLmodel says "
        "serialization_format: skops. stepline never unpickles a file named as skops. If the "
        "file is a pickle from a source you trust, rename it model.pkl, set "
        "'serialization_format: pickle' and 'pickled_model: model.pkl' in the sklearn flavor of "
        "MLmodel, and load it with trust=True (CLI: --trust); better, re-save the model with "
        "stepline.models.save, which writes skops"
    )


def _skops_types(path: Path) -> list[str]:
    """The untrusted types a skops file lists; `ModelError` naming the file if it is none."""
    import skops.io

    if not zipfile.is_zipfile(path):
        with path.open("rb") as fh:
            head = fh.read(1)
        if head == b"\x80":  # the PROTO opcode every pickle of protocol 2 or later starts with
            raise _not_skops(path, "it looks like a pickle")
        raise _not_skops(path, "a skops file is a zip archive, and this is not one")
    try:
        return sorted(skops.io.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises KeyError, JSONDecodeError, ... for a foreign zip
        raise _not_skops(path, f"{type(exc).__name__}: {exc}") from exc


def load_estimator(path: Path, fmt: str, trust: Trust = False) -> tuple[Any, list[str]]:
    """Read a model file; return (estimator, the types that had to be trusted).

    Raises `UntrustedModel` when the file needs something the trust rules do not allow.
    """
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if fmt == SKOPS:
        require("skops", "ml")
        import skops.io

        needed = _skops_types(path)
        allowed = set(trust) if isinstance(trust, list | tuple | set | frozenset) else set()
        if trust is True:
            refused: list[str] = []
        else:
            refused = [t for t in needed if t not in allowed and not is_known_safe(t)]
        if refused:
            raise UntrustedModel(
                f"model file {path} needs types that are not known to be safe: {refused}. "
                "stepline only trusts scikit-learn, NumPy and SciPy classes by default, because "
                "loading other objects may run code chosen by whoever wrote the file. If you "
                f"trust its source, load it with trust={refused!r} (or trust=True; CLI: "
                + " ".join(f"--trust-type {t}" for t in refused)
                + ").",
                types=refused,
            )
        try:
            return skops.io.load(path, trusted=needed), needed
        except Exception as exc:
            raise ModelError(
                f"cannot load skops model {path}: {type(exc).__name__}: {exc}"
            ) from exc
    if fmt not in (PICKLE, CLOUDPICKLE):
        raise ModelError(
            f"model file {path} has unknown serialization_format {fmt!r}; "
            f"stepline reads {list(FORMATS)}"
        )
    if trust is not True:
        raise UntrustedModel(
            f"model file {path} is a {fmt} file: unpickling it runs any code its author put in "
            "it, so stepline does not load it by default. If you trust its source, load it "
            "with trust=True (CLI: --trust); to avoid the question, save packages with "
            "serialization='skops'."
        )
    if fmt == CLOUDPICKLE:
        try:
            import cloudpickle  # noqa: F401  (cloudpickle's reducers must be importable)
        except ImportError:
            pass
    with path.open("rb") as fh:
        try:
            return pickle.load(fh), []
        except Exception as exc:
            raise ModelError(
                f"cannot unpickle {path}: {type(exc).__name__}: {exc} (a function or class the "
                "model refers to may not be importable here)"
            ) from exc
