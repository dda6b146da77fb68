"""What each kind of trigger sees when it is polled: an `Event`, or nothing.

    event = poll(trigger, ctx, now=time.time())
    event.key      # "sample.csv:v3", "2026-12-02T03:00:00Z", "random_forest_export:v2"
    event.armed    # True for the first look: remember the state, run nothing

- artifact: the newest version of the artifact, among those not logged by this pipeline's own
  steps, once it is newer than the newest one handled and `debounce` seconds old (a burst of
  versions runs once, for the last);
- schedule: the newest cron tick at or before now, once it is after the last one handled;
- drift: every `every` seconds, the drift share of the model's current version; above the
  threshold it fires, once per model version (a promoted model resets it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import NotFound
from stepline.triggers.cron import iso, last_tick
from stepline.triggers.record import Records
from stepline.triggers.spec import Trigger

#: model reference -> (drifted share of columns, reference of a logged drift report or None)
DriftCheck = Callable[[str], tuple[float, "str | None"]]


@dataclass(frozen=True)
class Event:
    """One occurrence of a trigger; `edge` is an artifact reference recorded as its input."""

    trigger: Trigger
    key: str
    detail: dict[str, Any]
    edge: str | None = None
    armed: bool = False

    def describe(self) -> str:
        return f"{self.trigger.name} ({self.trigger.kind}: {self.key})"


@dataclass
class PollContext:
    """What polling needs: the pipeline's records and project, and a drift check."""

    records: Records
    project: str | None
    debounce: float = 0.0
    drift_check: DriftCheck | None = None
    #: trigger name -> when its drift was last checked
    checked: dict[str, float] = field(default_factory=dict)
    #: trigger name -> why it did not fire on the last poll (for the watch's display)
    waiting: dict[str, str] = field(default_factory=dict)

    def qualified(self, name: str) -> str:
        return f"{self.project}/{name}" if self.project and "/" not in name else name


def poll(trigger: Trigger, ctx: PollContext, now: float) -> Event | None:
    """The event `trigger` has now, if any (see the module docstring)."""
    ctx.waiting.pop(trigger.name, None)
    if trigger.kind == "artifact":
        return _artifact(trigger, ctx, now)
    if trigger.kind == "schedule":
        return _schedule(trigger, ctx, now)
    return _drift(trigger, ctx, now)


def _external_versions(ctx: PollContext, name: str) -> list[Any]:
    from stepline.tracking.api import Api

    try:
        versions = Api().artifact_versions(ctx.qualified(name))
    except NotFound:
        return []
    out = []
    for v in versions:
        producer = v.logged_by()
        info = (getattr(producer, "info", None) or {}) if producer is not None else {}
        if info.get("pipeline") == ctx.records.pipeline and info.get("step"):
            continue  # made by this pipeline's own steps: never a reason to re-run it
        out.append(v)
    return out


def _artifact(trigger: Trigger, ctx: PollContext, now: float) -> Event | None:
    versions = _external_versions(ctx, trigger.target)
    newest = max(versions, key=lambda v: int(v.version[1:]), default=None)
    number = int(newest.version[1:]) if newest is not None else -1
    records = ctx.records.find(trigger.name)
    if not records:
        return Event(
            trigger, f"armed:v{number}", {"kind": "artifact", "version": number}, armed=True
        )
    seen = max(int(r.get("trigger_version", -1)) for r in records)
    if newest is None or number <= seen:
        return None
    age = now - float(newest.created_at)
    if age < ctx.debounce:
        ctx.waiting[trigger.name] = (
            f"{trigger.target}:{newest.version} is {age:.0f} s old; waiting {ctx.debounce:g} s"
        )
        return None
    ref = ctx.qualified(f"{trigger.target}:{newest.version}")
    return Event(
        trigger,
        f"{trigger.target}:{newest.version}",
        {"kind": "artifact", "version": number, "artifact": ref},
        edge=ref,
    )


def _schedule(trigger: Trigger, ctx: PollContext, now: float) -> Event | None:
    tick = last_tick(trigger.target, now)
    records = ctx.records.find(trigger.name)
    if not records:
        return Event(trigger, f"armed:{iso(tick)}", {"kind": "schedule", "tick": tick}, armed=True)
    seen = max(float(r.get("trigger_tick") or 0) for r in records)
    if tick <= seen:
        return None
    return Event(trigger, iso(tick), {"kind": "schedule", "tick": tick, "schedule": trigger.target})


def _drift(trigger: Trigger, ctx: PollContext, now: float) -> Event | None:
    last = ctx.checked.get(trigger.name)
    if last is not None and now - last < trigger.every:
        return None
    ctx.checked[trigger.name] = now
    if ctx.drift_check is None:
        from functools import partial

        from stepline.triggers.drift import drift_share

        check: DriftCheck = partial(drift_share, threshold=trigger.threshold)
    else:
        check = ctx.drift_check
    from stepline.tracking.api import Api

    try:
        model = Api().artifact(ctx.qualified(trigger.target), scope=None)
    except NotFound:
        ctx.waiting[trigger.name] = f"no {trigger.target} yet"
        return None
    version = f"{str(model.name).split(':')[0].split('/')[-1]}:{model.version}"
    share, report = check(ctx.qualified(trigger.target))
    if share <= trigger.threshold:
        ctx.waiting[trigger.name] = f"drift share {share:.3f} <= {trigger.threshold:g}"
        return None
    if ctx.records.find(trigger.name, version):
        ctx.waiting[trigger.name] = f"drift of {version} already handled"
        return None
    return Event(
        trigger,
        version,
        {
            "kind": "drift",
            "model": ctx.qualified(version),
            "share": share,
            "threshold": trigger.threshold,
            "report": report,
        },
        edge=report,
    )
