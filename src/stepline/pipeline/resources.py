"""How often a step may be re-run when the machine it runs on is lost: `retries: 2`; and what
it asks of that machine, `resources:` (parsed in `stepline.components.resources`, shared with
the MLproject extension).

Pure parsing and validation.
"""

from __future__ import annotations

from typing import Any

from stepline.components.resources import (
    RESOURCE_KEYS,
    merge_resources,
    parse_resources,
    parse_size,
)
from stepline.errors import SpecError

__all__ = [
    "MAX_RETRIES",
    "RESOURCE_KEYS",
    "merge_resources",
    "parse_resources",
    "parse_retries",
    "parse_size",
]

MAX_RETRIES = 10


def parse_retries(value: Any, where: str) -> int:
    """Validate a step's `retries:`: how many times an executor may re-run the step when its
    worker or node is lost (0, the default: never). Giving it says the step is safe to run
    again; a step that fails is never retried."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise SpecError(
            f"{where}: retries {value!r} must be a whole number from 0 to {MAX_RETRIES}, "
            "e.g. retries: 2 for a step that is safe to run again"
        )
    return value
