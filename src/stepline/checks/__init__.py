"""Reusable data checks for pipeline components: assertions, statistics, a pytest plugin.

Example (a component's test_data.py, with `pytest_plugins = ["stepline.checks.plugin"]`):
    >>> from stepline.checks import check_columns, check_kl, check_ks
    >>> def test_similar_neigh_distrib(data, ref_data, kl_threshold):
    ...     check_kl(data, ref_data, kl_threshold, column="neighbourhood_group")
"""

from __future__ import annotations

from stepline.checks.data import artifact_csv_path, read_artifact_csv
from stepline.checks.frames import (
    CheckFailed,
    check_bounds,
    check_categories,
    check_columns,
    check_kl,
    check_ks,
    check_range,
    check_row_count,
)
from stepline.checks.stats import (
    KSReport,
    KSResult,
    bonferroni_alpha,
    kl_divergence,
    ks_tests,
    numeric_columns,
)

__all__ = [
    "CheckFailed",
    "KSReport",
    "KSResult",
    "artifact_csv_path",
    "bonferroni_alpha",
    "check_bounds",
    "check_categories",
    "check_columns",
    "check_kl",
    "check_ks",
    "check_range",
    "check_row_count",
    "kl_divergence",
    "ks_tests",
    "numeric_columns",
    "read_artifact_csv",
]
