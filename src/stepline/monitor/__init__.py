"""Model monitoring: profiles of training and served data, drift between them, capture.

    profile.profile_frame(df) -> Profile        per-column summary (to_dict/from_dict)
    drift.compare(reference, current) -> DriftReport   Evidently's default method per column
    reference                                    the reference profile kept with a model
    capture.Capture, capture.ArtifactSink        `stepline serve --capture`
    runner.run_monitor(backend, "model:prod", window="last")   `stepline monitor`
    report.render_html(report, ...)              the self-contained HTML report

Importing this package imports nothing heavy; numpy, pandas and scipy (`stepline[monitor]`)
load with the function that needs them.

Example:
    >>> from stepline import monitor
    >>> monitor.compare(train_df, new_df).drifted
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Profile": ("stepline.monitor.profile", "Profile"),
    "profile_frame": ("stepline.monitor.profile", "profile_frame"),
    "DriftReport": ("stepline.monitor.drift", "DriftReport"),
    "compare": ("stepline.monitor.drift", "compare"),
    "run_monitor": ("stepline.monitor.runner", "run_monitor"),
    "MonitorResult": ("stepline.monitor.runner", "MonitorResult"),
    "DRIFT_EXIT_CODE": ("stepline.monitor.runner", "DRIFT_EXIT_CODE"),
    "Capture": ("stepline.monitor.capture", "Capture"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'stepline.monitor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value
