"""The HTML drift report: one self-contained page (inline CSS and SVG, no scripts or CDN).

Example:
    >>> Path("report.html").write_text(render_html(report, model="rf:prod", current="rows.csv"))
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from stepline.errors import require

_BAR_WIDTH = 8
_HEIGHT = 38


def _rows(report: Any) -> list[dict[str, Any]]:
    out = []
    for f in [*report.features, *([report.prediction] if report.prediction else [])]:
        top = max([*f.reference_hist, *f.current_hist, 1e-12])
        bars = [
            {
                "x": i * (_BAR_WIDTH + 1),
                "w": _BAR_WIDTH,
                "ref": round(r / top * _HEIGHT, 1),
                "cur": round(c / top * _HEIGHT, 1),
                "ref_share": f"{r:.1%}",
                "cur_share": f"{c:.1%}",
                "label": label,
            }
            for i, (label, r, c) in enumerate(
                zip(f.bins, f.reference_hist, f.current_hist, strict=True)
            )
        ]
        out.append({"f": f, "bars": bars, "width": max(1, len(bars) * (_BAR_WIDTH + 1))})
    return out


def render_html(report: Any, model: str, current: str, run_id: str | None = None) -> str:
    """The report as one HTML page (Jinja2, autoescaped)."""
    require("jinja2", "monitor")
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("stepline.monitor", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return env.get_template("report.html.j2").render(
        report=report,
        rows=_rows(report),
        model=model,
        current=current,
        run_id=run_id,
        created=created,
    )
