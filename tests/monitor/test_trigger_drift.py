"""A drift trigger asks the real monitor: a served, captured window against the reference."""

from __future__ import annotations

import pytest

import stepline
from stepline.backends import get_backend
from stepline.errors import NotFound
from stepline.models import load
from stepline.models.serving import create_app, serve_in_thread
from stepline.monitor.capture import ArtifactSink, Capture
from stepline.triggers.drift import drift_share
from stepline.triggers.events import PollContext, poll
from stepline.triggers.record import Records
from stepline.triggers.spec import Trigger

from .conftest import listings
from .test_capture import post_rows


def capture_window(logged_model: dict, shift: float) -> None:
    """Serve `shop/rf:prod` over loopback HTTP with capture; 80 listings make one window."""
    capture = Capture(ArtifactSink(get_backend(), "shop/rf:prod"), window_rows=1000)
    app = create_app(load(logged_model["package"]), capture=capture)
    with serve_in_thread(app) as url:
        post_rows(url, listings(80, seed=40, shift=shift), per_request=20)
    capture.close()


def test_no_window_yet_is_not_found(logged_model: dict) -> None:
    with pytest.raises(NotFound, match="no capture window"):
        drift_share("shop/rf:prod")


def test_drift_share_reads_the_newest_window_and_judges_the_report_at_the_threshold(
    logged_model: dict,
) -> None:
    capture_window(logged_model, shift=0.6)
    share, report = drift_share("shop/rf:prod", threshold=0.3)
    assert report is not None and share > 0.3
    art = stepline.Api().artifact(report)
    assert art.type == "drift_report"
    assert art.metadata["drift_share"] == 0.3 and art.metadata["drifted"] is True
    assert art.metadata["current"] == "shop/rf.capture:v0"
    assert art.metadata["share"] == pytest.approx(share)


def test_a_drift_trigger_fires_on_a_captured_window_with_the_report_as_its_edge(
    logged_model: dict,
) -> None:
    trigger = Trigger("drifted", "drift", "rf:prod", threshold=0.6, every=1)
    ctx = PollContext(records=Records("shop", "pipe"), project="shop")
    with pytest.raises(NotFound):  # no window yet: the watch shows the error and goes on
        poll(trigger, ctx, now=0.0)
    capture_window(logged_model, shift=0.0)
    quiet = poll(trigger, ctx, now=10.0)
    assert quiet is None and "<= 0.6" in ctx.waiting["drifted"]
    capture_window(logged_model, shift=0.6)
    event = poll(trigger, ctx, now=20.0)
    assert event is not None and event.key == "rf:v0"
    assert event.detail["share"] > 0.6 and event.edge == event.detail["report"]
    report = stepline.Api().artifact(str(event.edge))
    assert report.metadata["current"] == "shop/rf.capture:v1"
    assert report.metadata["drifted"] is True and report.metadata["drift_share"] == 0.6
