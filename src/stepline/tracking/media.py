"""Media values a run can log: `Image` (stored as PNG) and `Table` (stored as JSON).

A logged Table reads back through `ApiRun.media()` (see `tracking/run_files.py`) as a `Table` again:
`.columns`, `.data`, `.rows()` and, with pandas installed, `.get_dataframe()` as in W&B.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

from stepline.errors import InvalidValue, require


class Image:
    """A picture to log: a matplotlib figure, a PIL image, a numpy array or a path to an image file.

    >>> run.log({"feature_importance": stepline.Image(fig)})
    """

    def __init__(self, data_or_path: Any, caption: str | None = None) -> None:
        self.caption = caption
        self.png = self._to_png(data_or_path)

    @staticmethod
    def _to_png(data: Any) -> bytes:
        if isinstance(data, str | os.PathLike):
            with open(data, "rb") as f:
                raw = f.read()
            if raw[:8] == b"\x89PNG\r\n\x1a\n":
                return raw
            require("PIL", "media")
            from PIL import Image as PILImage

            buf = io.BytesIO()
            PILImage.open(io.BytesIO(raw)).save(buf, format="PNG")
            return buf.getvalue()
        if hasattr(data, "savefig"):  # a matplotlib Figure (or a seaborn grid's .fig)
            buf = io.BytesIO()
            data.savefig(buf, format="png", bbox_inches="tight")
            return buf.getvalue()
        if hasattr(data, "fig") and hasattr(data.fig, "savefig"):
            return Image._to_png(data.fig)
        if hasattr(data, "save") and hasattr(data, "mode"):  # PIL.Image.Image
            buf = io.BytesIO()
            data.save(buf, format="PNG")
            return buf.getvalue()
        if hasattr(data, "shape") and hasattr(data, "dtype"):  # numpy array
            require("PIL", "media")
            import numpy as np
            from PIL import Image as PILImage

            arr = np.asarray(data)
            if arr.dtype != np.uint8:
                lo, hi = float(arr.min()), float(arr.max())
                arr = ((arr - lo) / ((hi - lo) or 1.0) * 255).astype(np.uint8)
            buf = io.BytesIO()
            PILImage.fromarray(arr).save(buf, format="PNG")
            return buf.getvalue()
        raise InvalidValue(
            f"Image takes a matplotlib figure, PIL image, numpy array or file path,"
            f" not {type(data).__name__}"
        )

    def payload(self) -> tuple[str, bytes]:
        return "image/png", self.png


class Table:
    """Rows and columns to log: `Table(columns=[...], data=[[...]])` or `Table(dataframe=df)`."""

    def __init__(
        self,
        columns: list[str] | None = None,
        data: list[list[Any]] | None = None,
        dataframe: Any = None,
    ) -> None:
        if dataframe is not None:
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.astype(object).where(dataframe.notna(), None).values.tolist()
        self.columns = list(columns or [])
        self.data = [list(r) for r in (data or [])]
        for i, row in enumerate(self.data):
            if self.columns and len(row) != len(self.columns):
                raise InvalidValue(
                    f"Table row {i} has {len(row)} values for {len(self.columns)} columns"
                )

    def add_data(self, *values: Any) -> None:
        if self.columns and len(values) != len(self.columns):
            raise InvalidValue(f"add_data got {len(values)} values for {len(self.columns)} columns")
        self.data.append(list(values))

    @classmethod
    def from_json(cls, data: bytes) -> Table:
        """The Table a logged `table-file` object holds."""
        body = json.loads(data)
        return cls(columns=body.get("columns"), data=body.get("data"))

    def rows(self) -> list[dict[str, Any]]:
        """Each row as a dict keyed by column name."""
        return [dict(zip(self.columns, row, strict=False)) for row in self.data]

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame (pandas must be installed)."""
        require("pandas", "ml")
        import pandas as pd

        return pd.DataFrame(self.data, columns=self.columns or None)

    def __repr__(self) -> str:
        return f"<Table {len(self.columns)} columns × {len(self.data)} rows>"

    def payload(self) -> tuple[str, bytes]:
        from stepline.tracking.values import to_plain

        body = {"columns": self.columns, "data": to_plain(self.data, "table")}
        return "application/json", json.dumps(body).encode()


MEDIA_TYPES = (Image, Table)
