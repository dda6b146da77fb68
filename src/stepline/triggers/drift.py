"""The one place triggers ask the monitor about drift.

    share, report = drift_share("nyc_airbnb/random_forest_export:prod", threshold=0.3)

`share` is the dataset drift (the share of drifted columns) of the model's newest capture
window against its reference profile; `report` the reference of the drift report the monitor
logged, or None. The report is judged at the trigger's `threshold`, so the report a trigger
records as its reason says "dataset drift" at the share the trigger fired on. The monitor
lives in `stepline.monitor`; it is imported only here and only when a drift trigger is
polled, so triggers work without it for the other kinds.
"""

from __future__ import annotations

import importlib
from typing import Any

from stepline.errors import MissingExtra


def drift_share(
    model_ref: str, backend: Any = None, *, threshold: float = 0.5
) -> tuple[float, str | None]:
    """Drifted share of columns for `model_ref` now (its newest capture window against its
    reference profile), and the reference of the drift report the monitor logged (whose
    dataset drift is judged at `threshold`)."""
    try:
        runner = importlib.import_module("stepline.monitor.runner")
    except ModuleNotFoundError as exc:
        raise MissingExtra(
            "drift triggers need the monitor's packages: pip install 'stepline[monitor]'"
        ) from exc
    if backend is None:
        from stepline.backends import get_backend

        backend = get_backend()
    result = runner.run_monitor(backend, model_ref, window="last", drift_share=threshold)
    return float(result.report.share), str(result.report_ref) or None
