"""What a trigger does: run the pipeline, test the candidate against prod, promote by policy.

    outcome = handle(spec, event)
    outcome.promoted, outcome.reason     # False, "mae 35.1 is not 0.5 better than prod's 34.4"

One event runs the pipeline once (the step cache keeps it cheap). With `triggers.promote`, the
test step then runs twice on the same pinned test data: once with the candidate the execution
made, once with the version `prod` pointed at when the event came. The alias moves only when
the execution succeeded, both tests succeeded and the metric improved by `min_improvement`; a
failing candidate is never promoted. Every run this makes carries `info.triggered_by` (the
trigger, the event, and the id of its `trigger` record), and the execution's run has the
triggering artifact version or drift report as an input in lineage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from stepline.components.supervise import Terminated
from stepline.errors import InvalidReference, SteplineError
from stepline.pipeline.progress import ExecutionResult
from stepline.pipeline.run import new_execution_id, run_pipeline
from stepline.pipeline.spec import PipelineSpec, load_pipeline
from stepline.pipeline.tracking import ComponentsRunner, CoreTracker
from stepline.triggers.events import Event
from stepline.triggers.record import Records, single_flight
from stepline.triggers.spec import Promote, TestStep


@dataclass
class Outcome:
    """What handling one event did."""

    event: Event
    record_id: str | None = None
    execution: ExecutionResult | None = None
    candidate: str | None = None  # "random_forest_export:v4"
    prod: str | None = None
    candidate_metric: float | None = None
    prod_metric: float | None = None
    #: how much better the candidate is than prod by the policy's mode (positive: better)
    improvement: float | None = None
    promoted: bool = False
    reason: str = ""
    tests: dict[str, str] = field(default_factory=dict)  # role -> execution id

    @property
    def ok(self) -> bool:
        return self.execution is not None and self.execution.ok

    def decision(self) -> dict[str, Any]:
        return {
            "execution": self.execution.execution_id if self.execution else None,
            "status": self.execution.status if self.execution else None,
            "candidate": self.candidate,
            "prod": self.prod,
            "candidate_metric": self.candidate_metric,
            "prod_metric": self.prod_metric,
            "improvement": self.improvement,
            "promoted": self.promoted,
            "reason": self.reason,
            "tests": dict(self.tests),
        }


class TriggeredTracker(CoreTracker):
    """The core tracker, plus `triggered_by` on cached steps and the trigger's lineage edge."""

    def __init__(self, triggered_by: Mapping[str, Any], edge: str | None) -> None:
        super().__init__()
        self.triggered_by = dict(triggered_by)
        self.edge = edge

    def record_cached(self, **kwargs: Any) -> str:  # type: ignore[override]
        kwargs["info"] = {**kwargs["info"], "triggered_by": self.triggered_by}
        return super().record_cached(**kwargs)

    def start_execution(self, **kwargs: Any) -> str:  # type: ignore[override]
        run_id = super().start_execution(**kwargs)
        if self.edge is not None:
            with self._lock:
                run = self._open[run_id]
            run.use_artifact(self.edge)
        return run_id


class TriggeredRunner(ComponentsRunner):
    """The components runner, plus `triggered_by` in each step run's info."""

    def __init__(self, triggered_by: Mapping[str, Any]) -> None:
        super().__init__()
        self.triggered_by = dict(triggered_by)

    def execute(self, step: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["info"] = {**(kwargs.get("info") or {}), "triggered_by": self.triggered_by}
        return super().execute(step, **kwargs)


def _qualified(spec: PipelineSpec, name: str) -> str:
    return f"{spec.project}/{name}" if spec.project else name


def _resolve(tracker: CoreTracker, spec: PipelineSpec, ref: str) -> str | None:
    """`name:vN` for what `ref` (`name:alias`) points at now, or None."""
    found = tracker.resolve(_qualified(spec, ref))
    return f"{found.name}:{found.version}" if found is not None else None


def handle(
    spec: PipelineSpec,
    event: Event,
    *,
    jobs: int | None = None,
    listener: Any = None,
) -> Outcome:
    """Handle `event` for `spec`'s pipeline once (see the module docstring).

    Raises `Conflict` when another process is running this pipeline for a trigger.
    """
    records = Records(spec.project, spec.name)
    outcome = Outcome(event)
    with single_flight(f"{spec.project or '-'}.{spec.name}"):
        if records.find(event.trigger.name, event.key):
            outcome.reason = "already handled"
            return outcome
        if event.armed:
            run = records.start(event.trigger.name, event.key, event.detail)
            outcome.record_id = str(run.id)
            outcome.reason = "armed: only what comes after this runs"
            records.finish(run, {"armed": True, "reason": outcome.reason}, ok=True)
            return outcome
        execution_id = new_execution_id()
        record = records.start(
            event.trigger.name,
            event.key,
            event.detail,
            group=f"{spec.name}-{execution_id}",
            edge=event.edge,
        )
        outcome.record_id = str(record.id)
        triggered_by = {
            "trigger": event.trigger.name,
            "kind": event.trigger.kind,
            "event": event.key,
            "record": outcome.record_id,
            **({"artifact": event.edge} if event.edge else {}),
        }
        ok, interrupted = False, False
        try:
            _act(spec, event, outcome, triggered_by, execution_id, jobs, listener)
            ok = outcome.ok
        except (KeyboardInterrupt, Terminated):
            interrupted = True  # not handled: a later poll runs this event again
            outcome.reason = "interrupted; the event runs again on the next poll"
            raise
        except SteplineError as exc:
            outcome.reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            records.finish(record, {**outcome.decision(), "interrupted": interrupted}, ok=ok)
    return outcome


def _act(
    spec: PipelineSpec,
    event: Event,
    outcome: Outcome,
    triggered_by: dict[str, Any],
    execution_id: str,
    jobs: int | None,
    listener: Any,
) -> None:
    current = load_pipeline(spec.path, overrides=[*spec.overrides, *event.trigger.overrides])
    tracker = TriggeredTracker(triggered_by, event.edge)
    runner = TriggeredRunner(triggered_by)
    triggers = current.triggers
    promote = triggers.promote if triggers is not None else None
    test = triggers.test if triggers is not None else None
    if promote is not None:
        outcome.prod = _resolve(tracker, current, f"{promote.model}:{promote.alias}")
    result = run_pipeline(
        current,
        jobs=jobs,
        runner=runner,
        tracker=tracker,
        listener=listener,
        execution_id=execution_id,
        extra_info={"triggered_by": triggered_by},
    )
    outcome.execution = result
    if not result.ok:
        bad = [s for s in result.steps.values() if s.state not in ("finished", "cached")]
        first = f": step {bad[0].name} {bad[0].state}: {bad[0].reason}" if bad else ""
        outcome.reason = f"the pipeline {result.status}{first}; nothing promoted"
        return
    if promote is None or test is None:
        outcome.reason = "the pipeline ran; no promote: policy"
        return
    produced = {n: v for s in result.steps.values() for n, v in s.outputs.items()}
    version = produced.get(promote.model)
    if version is None:
        outcome.reason = f"the execution made no {promote.model}; nothing promoted"
        return
    outcome.candidate = f"{promote.model}:{version}"
    if outcome.candidate == outcome.prod:
        outcome.reason = f"{outcome.candidate} is already {promote.alias}"
        return
    cand_metric, why = _score(current, test, promote, version, produced, "candidate", outcome)
    if cand_metric is None:
        outcome.reason = f"candidate {outcome.candidate}: {why}; not promoted"
        return
    outcome.candidate_metric = cand_metric
    if outcome.prod is not None:
        prod_version = outcome.prod.split(":")[-1]
        prod_metric, why = _score(current, test, promote, prod_version, produced, "prod", outcome)
        if prod_metric is None:
            outcome.reason = f"{promote.alias} {outcome.prod}: {why}; not promoted"
            return
        outcome.prod_metric = prod_metric
        gain = promote.improvement(cand_metric, prod_metric)
        outcome.improvement = gain
        if gain < promote.min_improvement:
            outcome.reason = (
                f"{promote.metric} {cand_metric:.4g} of {outcome.candidate} is not "
                f"{promote.min_improvement:g} better ({promote.mode}) than {prod_metric:.4g} of "
                f"{promote.alias} {outcome.prod}; not promoted"
            )
            return
        outcome.reason = (
            f"{promote.metric} {cand_metric:.4g} of {outcome.candidate} beats {prod_metric:.4g} "
            f"of {outcome.prod} by {gain:.4g} (>= {promote.min_improvement:g}); "
            f"promoted to {promote.alias} after {event.describe()}"
        )
    else:
        outcome.reason = (
            f"{promote.metric} {cand_metric:.4g} of {outcome.candidate}; no {promote.alias} "
            f"before; promoted to {promote.alias} after {event.describe()}"
        )
    tracker.alias(_qualified(current, outcome.candidate), promote.alias)
    outcome.promoted = True


def _pin(text: str, spec: PipelineSpec, model: str, version: str, produced: dict[str, str]) -> str:
    """`text` with an artifact reference to the model or a produced artifact made exact."""
    if ":" not in text:
        return text
    from stepline.formats.refs import parse_ref

    try:
        ref = parse_ref(text)
    except InvalidReference:
        return text
    if ref.project not in (None, spec.project):
        return text
    if ref.name == model:
        return str(replace(ref, selector=version))
    if ref.name in produced:
        return str(replace(ref, selector=produced[ref.name]))
    return text


def _score(
    spec: PipelineSpec,
    test: TestStep,
    promote: Promote,
    version: str,
    produced: dict[str, str],
    role: str,
    outcome: Outcome,
) -> tuple[float | None, str]:
    """Run the test step on `promote.model:version`; (its metric, "") or (None, why)."""
    step = spec.steps[test.step]
    params = {
        k: _pin(v, spec, promote.model, version, produced) for k, v in step.parameters.items()
    }
    params[test.model_parameter] = f"{promote.model}:{version}"
    inputs = tuple(
        replace(r, selector=version)
        if r.name == promote.model
        else replace(r, selector=produced[r.name])
        if r.name in produced
        else r
        for r in step.inputs
    )
    recorded = {k: v for k, v in step.recorded.items() if params.get(k) == step.parameters[k]}
    pinned = replace(step, parameters=params, inputs=inputs, recorded=recorded)
    variant = replace(spec, steps={**spec.steps, test.step: pinned})
    triggered_by = {
        "trigger": outcome.event.trigger.name,
        "kind": outcome.event.trigger.kind,
        "event": outcome.event.key,
        "record": outcome.record_id,
        "role": f"test {role}",
    }
    result = run_pipeline(
        variant,
        only=[test.step],
        runner=TriggeredRunner(triggered_by),
        tracker=TriggeredTracker(triggered_by, None),
        extra_info={"triggered_by": triggered_by},
    )
    outcome.tests[role] = result.execution_id
    state = result.steps[test.step]
    if not result.ok:
        return None, f"the test step {state.state}: {state.reason or result.status}"
    value = state.summary.get(promote.metric)
    if value is None:
        return None, f"the test step logged no summary.{promote.metric}"
    return float(value), ""
