"""What a component or a step asks of the machine it runs on: `resources: {cpus: 2, gpus: 1,
memory: 4GB}`, given in an MLproject (top level or per entry point) or on a pipeline step.

Pure parsing and validation; an executor maps the result to its own terms (the Ray executor
to `num_cpus`, `num_gpus` and `memory`). The local executor does not reserve resources.

    parse_resources({"cpus": 2, "memory": "4GiB"}, where="pipeline.yaml: step 'train'")
    # {"cpus": 2.0, "memory": 4294967296}
    merge_resources(component={"cpus": 2, "memory": 4e9}, step={"cpus": 4})
    # {"cpus": 4, "memory": 4e9}: a step's keys override its component's, key by key
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stepline.errors import SpecError

RESOURCE_KEYS = ("cpus", "gpus", "memory")

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: Any, where: str) -> int:
    """Bytes from `4GB` (10^9), `4GiB` (2^30), `512MB`, or a plain number of bytes."""
    if isinstance(value, bool):
        raise SpecError(f"{where}: memory {value!r} is not a size; use e.g. 4GB, 512MiB or bytes")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        m = _SIZE.match(str(value))
        if not m or m[2].lower() not in _UNITS:
            raise SpecError(
                f"{where}: memory {value!r} is not a size; use e.g. 4GB, 512MiB or bytes "
                f"(units: {', '.join(u for u in ('KB', 'MB', 'GB', 'TB', 'KiB', 'MiB', 'GiB', 'TiB'))})"
            )
        number, unit = float(m[1]), m[2].lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise SpecError(f"{where}: memory must be more than 0 bytes, got {value!r}")
    return size


def _count(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(f"{where}: {key} {value!r} must be a number >= 0, e.g. {key}: 2")
    try:
        number = float(value)
    except ValueError:
        raise SpecError(f"{where}: {key} {value!r} must be a number >= 0, e.g. {key}: 2") from None
    if number < 0 or number != number or number == float("inf"):
        raise SpecError(f"{where}: {key} {value!r} must be a number >= 0, e.g. {key}: 2")
    return number


def parse_resources(value: Any, where: str) -> dict[str, float]:
    """Validate a step's `resources:` mapping; `where` prefixes errors (file and step)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(
            f"{where}: resources must be a mapping, e.g. resources: {{cpus: 2, gpus: 1, memory: 4GB}}"
        )
    unknown = [str(k) for k in value if k not in RESOURCE_KEYS]
    if unknown:
        raise SpecError(
            f"{where}: resources: unknown key {unknown[0]!r}; use {', '.join(RESOURCE_KEYS)}"
        )
    out: dict[str, float] = {}
    for key in RESOURCE_KEYS:
        if key not in value or value[key] is None:
            continue
        if key == "memory":
            out[key] = float(parse_size(value[key], f"{where}: resources"))
        else:
            out[key] = _count(value[key], key, f"{where}: resources")
    return out


def merge_resources(component: Mapping[str, float], step: Mapping[str, float]) -> dict[str, float]:
    """What a step asks for: its component's `resources:` with the step's own keys on top."""
    return {**component, **step}
