"""Jinja filters: times, durations, sizes and numbers as people read them."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from typing import Any
from urllib.parse import quote, urlencode


def ago(ts: float | None) -> str:
    """`1733050000.0` → `3 min ago` (a date when older than a week)."""
    if not ts:
        return ""
    delta = time.time() - ts
    if delta < 0:
        delta = 0
    if delta < 60:
        return f"{int(delta)} s ago"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    if delta < 7 * 86400:
        return f"{int(delta // 86400)} d ago"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def duration(seconds: float | None) -> str:
    """`75.2` → `1m 15s`."""
    if seconds is None:
        return ""
    s = max(0.0, float(seconds))
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def size(n: int | None) -> str:
    """`1536` → `1.5 KB`."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def num(v: Any) -> str:
    """Numbers with 4 significant digits (integers whole), anything else as text."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, dict | list):
        return json.dumps(v)
    return str(v)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def qs(params: dict[str, Any], **changes: Any) -> str:
    """A query string from `params` with `changes` applied (None drops a key)."""
    merged = {**params, **changes}
    pairs: list[tuple[str, Any]] = []
    for k, v in merged.items():
        if v is None or v == "" or v == []:
            continue
        if isinstance(v, list):
            pairs += [(k, x) for x in v]
        else:
            pairs.append((k, v))
    return "?" + urlencode(pairs) if pairs else ""


def artifact_url(project: str, name: str) -> str:
    """The artifact page's URL; a name ending in `.json` gets a slash so it is not read as a twin."""
    url = f"/projects/{quote(project)}/artifacts/{quote(name)}"
    return url + "/" if name.endswith(".json") else url


def install(env: Any) -> None:
    env.filters.update(
        ago=ago,
        when=when,
        duration=duration,
        size=size,
        num=num,
        tojson_compact=lambda v: json.dumps(v, default=str),
    )
    env.globals.update(qs=qs, artifact_url=artifact_url, is_number=is_number, quote=quote)
