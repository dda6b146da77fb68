"""Planning an execution: select steps, prepare components, resolve inputs from the store.

Everything here happens before the first step starts, so a bad plan fails early.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stepline.errors import SpecError, SteplineError
from stepline.formats.refs import ArtifactRef
from stepline.pipeline.dag import Dag, build_dag
from stepline.pipeline.fingerprint import Keyed, fingerprint
from stepline.pipeline.ports import PreparedStep, Runner, Tracker, Version
from stepline.pipeline.spec import PipelineSpec


@dataclass
class Plan:
    """What an execution will do, checked against the store before anything runs."""

    spec: PipelineSpec
    dag: Dag
    selected: list[str]
    prepared: dict[str, PreparedStep]
    external: dict[str, dict[str, Version]]  # step -> input ref -> version from the store
    keyed: dict[str, Keyed] = field(default_factory=dict)  # step -> parameters as keyed


def internal_producer(dag: Dag, selected: Iterable[str], ref: ArtifactRef) -> str | None:
    """The selected step producing `ref` in this execution (a `latest` reference), if any."""
    producer = dag.producers.get(ref.name)
    if ref.follows_latest and ref.project is None and producer in set(selected):
        return producer
    return None


def plan_execution(
    spec: PipelineSpec,
    runner: Runner,
    tracker: Tracker,
    *,
    only: Iterable[str] | None = None,
    from_step: str | None = None,
    force: Iterable[str] = (),
) -> Plan:
    """Select steps, prepare their components and resolve inputs from outside the execution.

    Raises `SpecError` naming the step and key: an unknown step, a component that cannot be
    prepared, an input that neither a selected step nor the store provides.
    """
    dag = build_dag(spec.steps)
    selected = dag.select(only=list(only) if only is not None else None, from_step=from_step)
    for name in force:
        dag.select(only=[name])  # raises on an unknown step
    prepared: dict[str, PreparedStep] = {}
    external: dict[str, dict[str, Version]] = {}
    for name in selected:
        step = spec.steps[name]
        try:
            prepared[name] = runner.prepare(
                step.component,
                entry_point=step.entry_point,
                parameters=dict(step.parameters),
                env_manager=step.env_manager,
                version=step.version,
                recorded=dict(step.recorded),
            )
        except SteplineError as exc:
            raise SpecError(f"step {name!r}: component {step.component}: {exc}") from exc
        external[name] = {}
        for ref in step.inputs:
            if internal_producer(dag, selected, ref):
                continue
            version = tracker.resolve(ref.qualified(spec.project))
            if version is None:
                producer = dag.producers.get(ref.name)
                hint = (
                    f"; its producer step {producer!r} is not selected (add it with -s, or "
                    f"use --from {producer})"
                    if producer and ref.follows_latest
                    else "; log it first or fix the reference"
                )
                raise SpecError(
                    f"step {name!r}: inputs: {str(ref)!r} is not in the store and no selected "
                    f"step produces it{hint}"
                )
            external[name][str(ref)] = version
    return Plan(
        spec=spec,
        dag=dag,
        selected=selected,
        prepared=prepared,
        external=external,
        keyed={name: fingerprint(dict(prepared[name].parameters)) for name in selected},
    )
