"""The web UI: runs, charts, media, artifact diffs, lineage, pipeline DAGs and the registry.

Server-rendered (Jinja2 templates, htmx for partial updates) with small vendored JS islands
(uPlot for charts, cytoscape.js for the lineage graph); no CDN, no build step, works offline.
Needs the `server` extra: `pip install 'stepline[server]'`.

>>> from stepline.ui import create_app
>>> app = create_app(stepline.Api().backend)      # an ASGI app; `stepline ui` serves it
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(backend: Any = None, read_only: bool = False, access: Any = None) -> Any:
    """The UI's ASGI app over `backend` (the configured store when None); `access` signs people
    in (the team server's UI, see `stepline.ui.team`)."""
    from stepline.errors import require

    for module in ("fastapi", "jinja2", "numpy"):
        require(module, "server")
    from stepline.backends import get_backend
    from stepline.ui.app import create_app as _create

    return _create(backend or get_backend(), read_only=read_only, access=access)
