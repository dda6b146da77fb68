"""One pipeline execution: plan, check, then schedule steps with caching.

    spec = load_pipeline("pipeline.yaml", ["etl.min_price=20"])
    result = run_pipeline(spec, jobs=4)
    result.ok, result.steps["train"].state      # True, "finished" | "cached" | ...

An execution is one group (experiment) with a generated execution id. Each step is one run
(job_type = step name) with its `execution_id` and `STEPLINE_SCOPE` set, so `name:latest` inside
the step resolves to what this execution produced. Everything checkable is checked before the
first step starts (`plan_execution`).
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stepline.errors import SteplineError
from stepline.pipeline.cache import CacheKey, cache_key
from stepline.pipeline.executors import Cancelled, Executor, LocalExecutor, StepTask
from stepline.pipeline.plan import Plan, internal_producer, plan_execution
from stepline.pipeline.ports import RunFacts, Runner, StepResult, Tracker, Version
from stepline.pipeline.progress import (
    ExecutionResult,
    Listener,
    StepState,
    describe_exit,
    error_line,
    metrics,
)
from stepline.pipeline.resources import merge_resources
from stepline.pipeline.spec import PipelineSpec
from stepline.settings import SCOPE
from stepline.states import BLOCKING, STEP_TERMINAL, SUCCEEDED

if TYPE_CHECKING:
    from stepline.backends.base import Backend
    from stepline.settings import Settings

__all__ = [
    "Execution",
    "ExecutionResult",
    "InFlight",
    "Listener",
    "Plan",
    "StepState",
    "describe_exit",
    "new_execution_id",
    "plan_execution",
    "predict_cache",
    "run_pipeline",
]


def _mlproject_of(prepared: Any) -> str:
    """The MLproject a component's `resources:` came from (for messages)."""
    from stepline.components.mlproject import find_mlproject

    folder = getattr(prepared, "source_dir", None)
    found = find_mlproject(folder) if folder is not None else None
    return str(found or f"the MLproject of {folder}")


def new_execution_id() -> str:
    """8 random base36 characters, like a run id."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


class InFlight:
    """Cache keys being executed right now, shared by concurrent executions (a sweep).

    A step whose key another execution is running waits for it and then hits the cache,
    instead of running the same work twice at the same time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}

    def claim(self, key: str, owner: str) -> str | None:
        """Take `key` for `owner`; returns the current holder when someone else has it."""
        with self._lock:
            holder = self._keys.setdefault(key, owner)
            return None if holder == owner else holder

    def release(self, key: str, owner: str) -> None:
        """Give `key` back (no-op unless `owner` holds it)."""
        with self._lock:
            if self._keys.get(key) == owner:
                del self._keys[key]


_WAIT = object()


class Execution:
    """Schedules one plan's steps on an executor; see `run_pipeline`."""

    def __init__(
        self,
        plan: Plan,
        tracker: Tracker,
        executor: Executor,
        *,
        no_cache: bool = False,
        force: Iterable[str] = (),
        group: str | None = None,
        execution_id: str | None = None,
        listener: Listener | None = None,
        cancel: threading.Event | None = None,
        extra_info: Mapping[str, Any] | None = None,
        inflight: InFlight | None = None,
    ) -> None:
        self.plan = plan
        self.spec = plan.spec
        self.tracker = tracker
        self.executor = executor
        self.no_cache = no_cache
        self.force = set(force)
        self.execution_id = execution_id or new_execution_id()
        self.group = group or f"{self.spec.name}-{self.execution_id}"
        self.listener = listener or Listener()
        self.cancel = cancel or threading.Event()
        self.extra_info = dict(extra_info or {})
        self.states = {name: StepState(name) for name in plan.selected}
        self.produced: dict[str, Version] = {}
        self.run_id: str | None = None
        self.inflight = inflight or InFlight()
        self._claimed: dict[str, str] = {}
        self.waiting = False

    # -- helpers ---------------------------------------------------------------------------
    def _set(self, state: StepState, new: str, **changes: Any) -> None:
        state.state = new
        for k, v in changes.items():
            setattr(state, k, v)
        now = time.monotonic()
        if new == "running" and state.started is None:
            state.started = now
        if new in STEP_TERMINAL:
            state.ended = now
            if state.started is None:
                state.started = now
        self.listener.step_changed(self.execution_id, state)

    def _inputs(self, name: str) -> dict[str, Version]:
        out: dict[str, Version] = {}
        for ref in self.spec.steps[name].inputs:
            if internal_producer(self.plan.dag, self.plan.selected, ref):
                out[str(ref)] = self.produced[ref.name]
            else:
                out[str(ref)] = self.plan.external[name][str(ref)]
        return out

    def _key(self, name: str, inputs: Mapping[str, Version]) -> CacheKey:
        prepared = self.plan.prepared[name]
        shown = dict(prepared.recorded_parameters)
        # values read from the environment (secrets) enter the key as digests, never as text
        env_values = {k: v for k, v in prepared.parameters.items() if k in shown and shown[k] != v}
        keyed = self.plan.keyed.get(name)
        parameters = dict(keyed.parameters) if keyed else dict(prepared.parameters)
        parameters.update({k: shown[k] for k in env_values})
        return cache_key(
            source_digest=prepared.source_digest,
            entry_point=prepared.entry_point,
            parameters=parameters,
            env_values=env_values,
            inputs={ref: v.digest for ref, v in inputs.items()},
            env_digest=prepared.env_digest,
        )

    def _lookup(self, name: str, key: CacheKey) -> tuple[RunFacts, dict[str, Version]] | None:
        """The newest finished run with `key` whose output edges hold every declared output."""
        return self.tracker.find_cached(self.spec.project, key.key, self.spec.steps[name].outputs)

    def _step_info(self, name: str, key: CacheKey, inputs: Mapping[str, Version]) -> dict[str, Any]:
        keyed = self.plan.keyed.get(name)
        return {
            "execution": self.execution_id,
            "pipeline": self.spec.name,
            "step": name,
            "cache_key": key.key,
            "cache_fields": dict(key.fields),
            "inputs_resolved": {ref: v.ref for ref, v in inputs.items()},
            "parameter_notes": keyed.notes if keyed else {},
        }

    # -- scheduling ------------------------------------------------------------------------
    def _start(self, name: str) -> Future[StepResult] | object | None:
        """Hit the cache or submit the step; returns the future when submitted."""
        state = self.states[name]
        inputs = self._inputs(name)
        key = self._key(name, inputs)
        state.cache_key = key.key
        info = self._step_info(name, key, inputs)
        if not self.no_cache and name not in self.force:
            hit = self._lookup(name, key)
            if hit is not None:
                original, outputs = hit
                origin = original.info.get("execution")
                self.produced.update(
                    {n: replace(v, execution=v.execution or origin) for n, v in outputs.items()}
                )
                run_id = self.tracker.record_cached(
                    project=self.spec.project,
                    group=self.group,
                    step=name,
                    name=None,
                    info={
                        **info,
                        "cached_from": original.id,
                        "outputs": {n: v.version for n, v in outputs.items()},
                    },
                )
                self._set(
                    state,
                    "cached",
                    run_id=run_id,
                    cached_from=original.id,
                    outputs={n: v.version for n, v in outputs.items()},
                    reason="",
                    summary=metrics(original.summary),
                )
                return None
            holder = self.inflight.claim(key.key, f"{self.execution_id}/{name}")
            if holder is not None:
                state.reason = f"waiting for the identical step {holder}"
                return _WAIT
            self._claimed[name] = key.key
        scope = self.execution_id  # cache hits link their outputs into this execution too
        prepared = self.plan.prepared[name]
        # the component's MLproject `resources:`, the step's own keys on top
        component_res = dict(getattr(prepared, "resources", None) or {})
        step_res = dict(self.spec.steps[name].resources)
        task = StepTask(
            step=name,
            prepared=prepared,
            project=self.spec.project,
            group=self.group,
            run_name=None,
            job_type=name,
            extra_env={SCOPE: scope},
            info=info,
            resources=merge_resources(component_res, step_res),
            resources_from={
                **{k: _mlproject_of(prepared) for k in component_res},
                **{k: str(self.spec.path) for k in step_res},
            },
            retries=self.spec.steps[name].retries,
            on_output=lambda stream, line: self._output(name, stream, line),
            on_start=lambda: self._set(state, "running"),
        )
        self._set(state, "queued")
        return self.executor.submit(task)

    def _output(self, name: str, stream: str, line: str) -> None:
        self.states[name].log_tail.append(line.rstrip("\n"))
        self.listener.step_output(self.execution_id, name, stream, line)

    def _done(self, name: str, future: Future[StepResult]) -> None:
        try:
            self._finish_step(name, future)
        finally:
            key = self._claimed.pop(name, None)
            if key is not None:
                self.inflight.release(key, f"{self.execution_id}/{name}")

    def _finish_step(self, name: str, future: Future[StepResult]) -> None:
        state = self.states[name]
        try:
            result = future.result()
        except Cancelled:
            self._set(state, "cancelled", reason="interrupted before it started")
            return
        except SteplineError as exc:
            state.run_id = getattr(exc, "run_id", "") or state.run_id  # a lost worker's run
            self._set(state, "failed", reason=str(exc))
            return
        except Exception as exc:  # user-code boundary: report, keep other branches going
            self._set(state, "failed", reason=f"{type(exc).__name__}: {exc}")
            return
        state.run_id = result.run_id
        state.exit_code = result.exit_code
        if result.status != "finished":
            reason = describe_exit(result.exit_code)
            line = error_line(result.stderr_tail)
            if line:
                reason += ": " + line
            self._set(state, "failed", reason=reason, stderr_tail=list(result.stderr_tail))
            return
        outputs = self.spec.steps[name].outputs
        facts = RunFacts(id=result.run_id, state="finished", project=self.spec.project)
        # every run that logs a version has an output edge to it, new content or not
        found = self.tracker.outputs_of(facts, outputs) if outputs else {}
        missing = [o for o in outputs if o not in found]
        if missing:
            self._set(
                state,
                "failed",
                reason=f"declared output {missing[0]!r} was not logged by run {result.run_id}",
            )
            return
        self.produced.update({n: replace(v, execution=self.execution_id) for n, v in found.items()})
        self._set(
            state,
            "finished",
            outputs={n: v.version for n, v in found.items()},
            summary=self._summary(result.run_id),
        )

    def _summary(self, run_id: str) -> dict[str, float]:
        try:
            return metrics(self.tracker.run(run_id).summary)
        except SteplineError:
            return {}

    def _ready(self, name: str) -> bool | None:
        """True when all selected upstream steps succeeded, None when one of them did not."""
        ups = self.plan.dag.upstream[name] & set(self.plan.selected)
        states = [self.states[u].state for u in ups]
        if any(s in BLOCKING for s in states):
            return None
        return all(s in SUCCEEDED for s in states)

    def run(self) -> ExecutionResult:
        """Run the plan to the end (or until cancelled) and record the execution."""
        t0 = time.monotonic()
        self.run_id = self.tracker.start_execution(
            project=self.spec.project,
            group=self.group,
            name=self.spec.name,
            config=dict(self.spec.recorded_config or {}),
            info=self._record(),
        )
        running: dict[Future[StepResult], str] = {}
        try:
            while True:
                progressed = self._schedule(running)
                if not running:
                    if progressed:
                        continue
                    if self.waiting:
                        time.sleep(0.05)
                        continue
                    break
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._done(running.pop(fut), fut)
                if self.cancel.is_set():
                    self.executor.cancel()
        except BaseException:
            self.cancel.set()
            self.executor.cancel()
            for fut, name in running.items():
                try:
                    fut.result(timeout=30)
                    self._done(name, fut)
                except BaseException:
                    pass
                if self.states[name].state not in ("failed", "cancelled"):
                    self._set(self.states[name], "failed", reason="interrupted")
            for state in self.states.values():
                if state.state == "pending":
                    self._set(state, "cancelled", reason="interrupted")
            self._finish(t0)
            raise
        return self._finish(t0)

    def _schedule(self, running: dict[Future[StepResult], str]) -> bool:
        progressed = False
        self.waiting = False
        for name in self.plan.selected:
            state = self.states[name]
            if state.state != "pending":
                continue
            if self.cancel.is_set():
                self._set(state, "cancelled", reason="interrupted")
                progressed = True
                continue
            ready = self._ready(name)
            if ready is None:
                bad = sorted(
                    u
                    for u in self.plan.dag.upstream[name]
                    if u in self.states and self.states[u].state in BLOCKING
                )
                self._set(state, "skipped", reason=f"upstream {', '.join(bad)} did not succeed")
                progressed = True
            elif ready:
                fut = self._start(name)
                if fut is _WAIT:
                    self.waiting = True
                    continue
                if isinstance(fut, Future):
                    running[fut] = name
                progressed = True
        return progressed

    def _record(self) -> dict[str, Any]:
        return {
            "execution": self.execution_id,
            "pipeline": self.spec.name,
            "pipeline_path": str(self.spec.path),
            "spec_digest": self.spec.digest,
            "overrides": list(self.spec.overrides),
            "dag": {s: sorted(self.plan.dag.upstream[s]) for s in self.plan.dag.steps},
            "selected": list(self.plan.selected),
            **self.extra_info,
        }

    def _finish(self, t0: float) -> ExecutionResult:
        states = [s.state for s in self.states.values()]
        if any(s == "cancelled" for s in states) or self.cancel.is_set():
            status = "cancelled"
        elif all(s in SUCCEEDED for s in states):
            status = "finished"
        else:
            status = "failed"
        duration = time.monotonic() - t0
        summary = {
            "steps_finished": states.count("finished"),
            "steps_cached": states.count("cached"),
            "steps_failed": states.count("failed"),
            "steps_skipped": states.count("skipped"),
            "duration": round(duration, 3),
        }
        if self.run_id is not None:
            self.tracker.finish_execution(
                self.run_id,
                status="finished" if status == "finished" else "failed",
                info={
                    **self._record(),
                    "status": status,
                    "steps": {n: s.to_dict() for n, s in self.states.items()},
                },
                summary=summary,
            )
        return ExecutionResult(
            execution_id=self.execution_id,
            group=self.group,
            run_id=self.run_id,
            status=status,
            steps=self.states,
            duration=duration,
            config=self.spec.recorded_config or {},
        )


def run_pipeline(
    spec: PipelineSpec,
    *,
    only: Iterable[str] | None = None,
    from_step: str | None = None,
    jobs: int | None = None,
    no_cache: bool = False,
    force: Iterable[str] = (),
    name: str | None = None,
    runner: Runner | None = None,
    tracker: Tracker | None = None,
    executor: Executor | None = None,
    listener: Listener | None = None,
    cancel: threading.Event | None = None,
    execution_id: str | None = None,
    extra_info: Mapping[str, Any] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> ExecutionResult:
    """Run `spec` once: check everything, then execute the selected steps with caching.

    `name` names the execution's group (default `<pipeline>-<execution id>`). Raises
    `SpecError` before any step runs when the plan is invalid; a failing step does not raise,
    it shows in the result (`result.ok` is False) and stops only its dependents.
    """
    runner = runner or default_runner()
    tracker = tracker or default_tracker()
    force = tuple(force)
    plan = plan_execution(spec, runner, tracker, only=only, from_step=from_step, force=force)
    if on_plan is not None:
        on_plan(plan)
    own = executor is None
    ex = executor or LocalExecutor(runner, jobs)
    try:
        return Execution(
            plan,
            tracker,
            ex,
            no_cache=no_cache,
            force=force,
            group=name,
            execution_id=execution_id,
            listener=listener,
            cancel=cancel,
            extra_info=extra_info,
        ).run()
    finally:
        if own:
            ex.shutdown()


def default_runner(backend: Backend | None = None, settings: Settings | None = None) -> Runner:
    """The components subsystem (`stepline.components.prepare`/`execute`), its step runs on
    `backend` (default: the store `settings` name, this process's when None)."""
    from stepline.pipeline.tracking import ComponentsRunner

    return ComponentsRunner(backend, settings)


def default_tracker(backend: Backend | None = None, settings: Settings | None = None) -> Tracker:
    """The tracking core on `backend` (default: the store `settings` name, this process's
    when None): `tracking.runs.start_run` and `tracking.api.Api`, no `stepline.init`."""
    from stepline.pipeline.tracking import CoreTracker

    return CoreTracker(backend, settings)


class _NoExecutor:
    def submit(self, task: StepTask) -> Future[StepResult]:  # pragma: no cover - never called
        raise RuntimeError("predict_cache does not execute steps")

    def cancel(self) -> None:
        """Nothing runs."""

    def shutdown(self) -> None:
        """Nothing to release."""


def predict_cache(plan: Plan, tracker: Tracker) -> dict[str, tuple[str, str | None]]:
    """What `stepline run` would do per step without running anything.

    Returns step -> (`hit`, original run id) | (`miss`, None) | (`unknown`, None); `unknown`
    when an upstream step would re-run, so the input digest is not known yet.
    """
    ex = Execution(plan, tracker, _NoExecutor())
    out: dict[str, tuple[str, str | None]] = {}
    for name in plan.selected:
        producers = [
            p
            for ref in plan.spec.steps[name].inputs
            if (p := internal_producer(plan.dag, plan.selected, ref)) is not None
        ]
        if any(out[p][0] != "hit" for p in producers):
            out[name] = ("unknown", None)
            continue
        key = ex._key(name, ex._inputs(name))
        hit = ex._lookup(name, key)
        if hit is None:
            out[name] = ("miss", None)
        else:
            ex.produced.update(hit[1])
            out[name] = ("hit", hit[0].id)
    return out
