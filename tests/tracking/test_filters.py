"""The filter language `runs ls --filter` and the UI's filter box share."""

from __future__ import annotations

import pytest

from stepline.errors import UsageError
from stepline.tracking import filters


def test_expressions_become_a_filter_document() -> None:
    assert filters.parse(
        ["summary.loss<0.5", "config.lr=0.01", "state!=failed", "config.name=rf"]
    ) == {
        "summary.loss": {"$lt": 0.5},
        "config.lr": {"$eq": 0.01},
        "state": {"$ne": "failed"},
        "config.name": {"$eq": "rf"},
    }
    assert filters.parse(["summary.r2>=0.5", "summary.r2<=0.9"]) == {
        "summary.r2": {"$gte": 0.5, "$lte": 0.9}
    }


def test_a_filter_box_splits_on_spaces_and_commas_and_keeps_quotes() -> None:
    assert filters.split('summary.loss < 0.5, config.name="random forest" state=finished') == [
        "summary.loss<0.5",
        "config.name=random forest",
        "state=finished",
    ]


def test_a_bad_expression_names_itself_and_the_syntax() -> None:
    with pytest.raises(
        UsageError, match=r"filter 'summary.loss~1': expected an operator after 'summary.loss'"
    ):
        filters.parse(["summary.loss~1"])
