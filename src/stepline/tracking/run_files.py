"""The media a run logged (`Image`s, `Table`s), read back as files, shaped like W&B's `run.files()`.

A logged medium is a `{"_type": "image-file" | "table-file", "digest": …}` value in a history row;
its bytes are one object in the store. Each gets a W&B-style file name
(`media/images/<key>_<step>_<digest20>.png`, `media/table/<key>_<step>_<digest20>.table.json`).

>>> run = stepline.Api().run("3kq9x0ab")
>>> [f.name for f in run.files()]
>>> run.file(run.media(key="preds")[-1].name).table().get_dataframe()
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline.errors import Conflict, NotFound, UsageError
from stepline.tracking.media import Table

_KINDS = {"image-file": "image", "table-file": "table"}
_UNSAFE = re.compile(r"[^\w\-.]")


def _safe_key(key: str) -> str:
    """`key` as a relative path: slashes make folders; nothing can climb out of the root."""
    parts = [_UNSAFE.sub("_", p) for p in key.split("/")]
    return "/".join(p if p not in ("", ".", "..") else "_" for p in parts)


@dataclass
class MediaFile:
    """One logged image or table: where it was logged (`key`, `step`) and its stored bytes."""

    key: str
    step: int
    type: str  # "image" | "table"
    digest: str
    size: int
    mimetype: str
    caption: str | None = None
    _backend: Any = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        stem = f"{_safe_key(self.key)}_{self.step}_{self.digest[:20]}"
        if self.type == "image":
            return f"media/images/{stem}.png"
        return f"media/table/{stem}.table.json"

    def read(self) -> bytes:
        """The file's bytes, verified against their digest."""
        data: bytes = self._backend.objects.get_bytes(self.digest)
        return data

    def download(
        self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False
    ) -> Path:
        """Write the file under `root` at its `name`; returns its path.

        As in W&B, an existing file is an error unless `replace=True` (overwrite it) or
        `exist_ok=True` (leave it).
        """
        dest = Path(root) / self.name
        if dest.exists() and not replace:
            if exist_ok:
                return dest
            raise Conflict(
                f"{dest} exists; pass replace=True to overwrite it or exist_ok=True to keep it"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(self.read())
        os.replace(tmp, dest)
        return dest

    def table(self) -> Table:
        """A logged Table read back (`.columns`, `.data`, `.rows()`, `.get_dataframe()`)."""
        if self.type != "table":
            raise UsageError(f"{self.name} is an {self.type}, not a table; use .read()/.download()")
        return Table.from_json(self.read())

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "step": self.step,
            "type": self.type,
            "file": self.name,
            "size": self.size,
            "mimetype": self.mimetype,
            "digest": self.digest,
            "caption": self.caption,
        }


def run_media(backend: Any, run_id: str) -> list[MediaFile]:
    """Every medium the run logged, in step order (keys in logging order within a step)."""
    found: list[MediaFile] = []
    for row in backend.history(run_id):
        for key, value in row.items():
            if isinstance(value, dict) and value.get("_type") in _KINDS and "digest" in value:
                found.append(
                    MediaFile(
                        key=key,
                        step=int(row["_step"]),
                        type=_KINDS[value["_type"]],
                        digest=value["digest"],
                        size=int(value.get("size") or 0),
                        mimetype=value.get("mime") or "",
                        caption=value.get("caption"),
                        _backend=backend,
                    )
                )
    return found


def find_file(files: list[MediaFile], name: str, run_ref: str) -> MediaFile:
    for f in files:
        if f.name == name:
            return f
    names = ", ".join(f.name for f in files[:10]) or "none"
    more = f" (and {len(files) - 10} more)" if len(files) > 10 else ""
    raise NotFound(f"run {run_ref} has no file {name!r}; its files: {names}{more}")
