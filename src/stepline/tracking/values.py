"""Turning user values (config, metrics, summary) into JSON-safe data, with clear errors. Pure."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from typing import Any

from stepline.errors import InvalidName, InvalidValue


def to_plain(value: Any, where: str) -> Any:
    """JSON-safe copy of `value`: numpy scalars and arrays, paths, tuples and Namespaces converted."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, f"{where}.{k}") for k, v in value.items()}
    if _is_namespace(value):
        return to_plain(vars(value), where)
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(v, f"{where}[]") for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return to_plain(value.item(), where)  # numpy / torch scalars
    if hasattr(value, "tolist") and callable(value.tolist):
        return to_plain(value.tolist(), where)
    to_container = getattr(value, "_content", None)  # OmegaConf DictConfig without importing it
    if to_container is not None:
        from omegaconf import OmegaConf

        return to_plain(OmegaConf.to_container(value, resolve=True), where)
    return str(value)


def _is_namespace(value: Any) -> bool:
    """An `argparse.Namespace`; argparse is not imported for it (without it there are none)."""
    argparse = sys.modules.get("argparse")
    return argparse is not None and isinstance(value, argparse.Namespace)


def check_config_keys(data: Mapping[str, Any], where: str = "config") -> None:
    """Config keys may not contain '.', which stepline uses for paths like config.a.b."""
    for key, value in data.items():
        if "." in str(key):
            raise InvalidName(
                f"{where} key {key!r} contains '.'; use nested dicts instead"
                f" ({{{str(key).split('.')[0]!r}: {{...}}}})"
            )
        if isinstance(value, Mapping):
            check_config_keys(value, f"{where}.{key}")


def check_metric(key: str, value: Any) -> None:
    """Metrics must be finite: NaN and infinity are refused with the key's name."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValue(f"metric {key!r} is {value!r}; log finite numbers only")


def config_from(source: Any) -> dict[str, Any]:
    """A config dict from a dict, argparse.Namespace, OmegaConf config or a YAML file path."""
    if source is None:
        return {}
    if isinstance(source, str | os.PathLike) and str(source).endswith((".yaml", ".yml")):
        from pathlib import Path

        from stepline.formats.yaml import load_yaml

        loaded = load_yaml(Path(source)).data or {}
        if not isinstance(loaded, dict):
            raise InvalidValue(f"config file {os.fspath(source)!r} must hold a mapping at the top")
        source = loaded
    plain = to_plain(source, "config")
    if not isinstance(plain, dict):
        raise InvalidValue(
            f"config must be a dict, argparse.Namespace or YAML path, not {type(source).__name__}"
        )
    check_config_keys(plain)
    return plain
