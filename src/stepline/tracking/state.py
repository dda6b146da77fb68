"""Run config and summary: dicts that write through to the store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from stepline.errors import UsageError
from stepline.tracking.values import check_config_keys, config_from, to_plain


class Config(dict[str, Any]):
    """A run's configuration. `run.config.update(args)` takes a dict or an argparse.Namespace."""

    def __init__(self, data: Mapping[str, Any], save: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(data)
        self._save = save

    def update(self, other: Any = None, allow_val_change: bool = True, **kwargs: Any) -> None:  # type: ignore[override]
        patch = config_from(other) if other is not None else {}
        patch.update(config_from(kwargs) if kwargs else {})
        if not allow_val_change:
            for k, v in patch.items():
                if k in self and self[k] != v:
                    raise UsageError(
                        f"config key {k!r} is already {self[k]!r}; pass allow_val_change=True"
                        f" to change it to {v!r}"
                    )
        super().update(patch)
        self._save(patch)

    def __setitem__(self, key: str, value: Any) -> None:
        check_config_keys({key: value})
        plain = to_plain(value, f"config.{key}")
        super().__setitem__(key, plain)
        self._save({key: plain})

    def setdefaults(self, d: Mapping[str, Any]) -> None:
        self.update({k: v for k, v in d.items() if k not in self})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}; keys: {', '.join(self)}") from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self)


class Summary(dict[str, Any]):
    """Each metric's last value (editable). Changes reach the store on the next flush."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self._dirty: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __setitem__(self, key: str, value: Any) -> None:
        plain = to_plain(value, f"summary.{key}")
        with self._lock:
            super().__setitem__(key, plain)
            self._dirty[key] = plain

    def update(self, other: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in {**dict(other or {}), **kwargs}.items():
            self[k] = v

    def _set_many(self, values: dict[str, Any]) -> None:
        """Hot path for `run.log`: values are already plain."""
        with self._lock:
            super().update(values)
            self._dirty.update(values)

    def _restore_dirty(self, dirty: dict[str, Any]) -> None:
        """Mark `dirty` unwritten again (a failed write), unless a key changed since."""
        with self._lock:
            for key, value in dirty.items():
                self._dirty.setdefault(key, value)

    def take_dirty(self) -> dict[str, Any]:
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        return dirty
