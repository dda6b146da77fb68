"""The `info` keys a run keeps in indexed columns of its own (stdlib only; both writers use it).

Callers read and write `info.execution` and `info.cache_key` as info keys; the store keeps them
in `runs.execution_id` and `runs.cache_key`, so the step cache and an execution's runs are
found through an index.

    rest, columns = split_info({"execution": "k3x9", "lr": 0.1})   # ({"lr": 0.1}, {"execution_id": "k3x9"})
    info_view(rest, "k3x9", None)                                   # {"lr": 0.1, "execution": "k3x9"}
"""

from __future__ import annotations

from typing import Any

#: info key -> its column in `runs`
INFO_COLUMNS = {"execution": "execution_id", "cache_key": "cache_key"}


def split_info(info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(`info` without the keys that have columns, those keys' column values)."""
    rest = {k: v for k, v in info.items() if k not in INFO_COLUMNS}
    columns = {
        INFO_COLUMNS[k]: None if v is None else str(v) for k, v in info.items() if k in INFO_COLUMNS
    }
    return rest, columns


def info_view(info: dict[str, Any] | None, execution_id: Any, cache_key: Any) -> dict[str, Any]:
    """A run's info as callers know it: the JSON column plus the keys held in columns."""
    view = dict(info or {})
    if execution_id is not None:
        view["execution"] = execution_id
    if cache_key is not None:
        view["cache_key"] = cache_key
    return view
