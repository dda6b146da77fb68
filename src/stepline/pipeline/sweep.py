"""Multirun sweeps: a grid of overrides, executions in parallel under one sweep group.

points = expand_grid(["modeling.max_depth=10,50", "modeling.n_estimators=100,200"])
# [["modeling.max_depth=10", "modeling.n_estimators=100"], ...] (4 points)
result = run_sweep("pipeline.yaml", points, optimize="summary.mae:min", alias_best="prod")
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline.components.memo import planning_memo
from stepline.errors import SpecError, UsageError
from stepline.formats.yaml import load_yaml
from stepline.pipeline.executors import Executor, LocalExecutor
from stepline.pipeline.ports import Runner, Tracker
from stepline.pipeline.run import (
    Execution,
    ExecutionResult,
    InFlight,
    Listener,
    default_runner,
    default_tracker,
    new_execution_id,
    plan_execution,
)
from stepline.pipeline.spec import PipelineSpec, find_pipeline_file, parse_pipeline
from stepline.states import SUCCEEDED

_RANGE = re.compile(r"^range\((-?\d+)\s*,\s*(-?\d+)(?:\s*,\s*(-?\d+))?\)$")


def sweep_values(value: str) -> list[str]:
    """The values of one swept override: `1,2,3`, `range(1,10,3)`; brackets/quotes stay whole."""
    m = _RANGE.match(value.strip())
    if m:
        start, stop, step = int(m[1]), int(m[2]), int(m[3] or 1)
        if step == 0:
            raise SpecError(f"sweep {value!r}: range step must not be 0")
        return [str(v) for v in range(start, stop, step)]
    out, depth, quote, cur = [], 0, "", ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return out


def expand_grid(overrides: Iterable[str]) -> list[list[str]]:
    """The cartesian product of swept overrides, in the order given (last one varies fastest)."""
    axes: list[list[str]] = []
    for text in overrides:
        if text.startswith("~") or "=" not in text:
            axes.append([text])
            continue
        key, _, value = text.partition("=")
        axes.append([f"{key}={v}" for v in sweep_values(value)])
    return [list(p) for p in itertools.product(*axes)]


@dataclass(frozen=True)
class Objective:
    """What to optimise: a summary key of the pipeline's steps and a direction."""

    key: str  # "mae" for "summary.mae"
    direction: str  # "min" | "max"

    def better(self, a: float, b: float) -> bool:
        """True when `a` beats `b`."""
        return a < b if self.direction == "min" else a > b


def parse_objective(text: str) -> Objective:
    """Parse `summary.mae:min` / `summary.auc:max`; raise `UsageError` on anything else."""
    path, _, direction = text.partition(":")
    direction = direction or "min"
    if not path.startswith("summary.") or direction not in ("min", "max") or len(path) < 9:
        raise UsageError(
            f"--optimize {text!r}: expected summary.<key>:min|max, e.g. summary.mae:min"
        )
    return Objective(key=path[len("summary.") :], direction=direction)


@dataclass
class SweepPoint:
    """One execution of the grid."""

    overrides: list[str]
    result: ExecutionResult | None = None
    value: float | None = None
    metric_step: str | None = None
    metric_run: str | None = None


@dataclass
class SweepResult:
    """All executions of a sweep, and the best one when an objective was given."""

    group: str
    points: list[SweepPoint]
    objective: Objective | None = None
    best: int | None = None
    aliased: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every execution succeeded."""
        return all(p.result is not None and p.result.ok for p in self.points)

    def to_dict(self, wall: float | None = None) -> dict[str, Any]:
        """JSON data (`stepline run -m … --json`): the best execution and every execution."""
        return {
            "group": self.group,
            **({"wall": round(wall, 3)} if wall is not None else {}),
            "best": self.best,
            "aliased": self.aliased,
            "executions": [
                {
                    "overrides": p.overrides,
                    "value": p.value,
                    **(p.result.to_dict() if p.result else {}),
                }
                for p in self.points
            ],
        }


def metric_of(
    tracker: Tracker, spec: PipelineSpec, result: ExecutionResult, key: str
) -> tuple[float, str, str] | None:
    """The last step (in run order) whose run summary has `key`: (value, step, run id)."""
    for name in reversed(list(result.steps)):
        st = result.steps[name]
        run_id = st.cached_from or st.run_id
        if run_id is None or st.state not in SUCCEEDED:
            continue
        value = tracker.run(run_id).summary.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), name, run_id
    return None


def run_sweep(
    path: str | Path | None,
    points: Sequence[Sequence[str]],
    *,
    only: Iterable[str] | None = None,
    from_step: str | None = None,
    jobs: int | None = None,
    no_cache: bool = False,
    force: Iterable[str] = (),
    name: str | None = None,
    optimize: str | None = None,
    alias_best: str | None = None,
    runner: Runner | None = None,
    tracker: Tracker | None = None,
    listener: Listener | None = None,
    cancel: threading.Event | None = None,
    executor: Executor | None = None,
) -> SweepResult:
    """Run one execution per grid point, in parallel, under one sweep group.

    Every point is loaded and planned before any step runs (a bad point fails the sweep early).
    All steps of all executions share one pool of `jobs` workers (or `executor`, e.g. a
    `RayExecutor`, which the caller then shuts down). With `optimize`, the best
    execution is picked from its steps' run summaries; with `alias_best`, the outputs of the
    step that reported the metric get that alias.
    """
    objective = parse_objective(optimize) if optimize else None
    if alias_best and objective is None:
        raise UsageError("--alias-best needs --optimize summary.<key>:min|max to pick the best")
    runner = runner or default_runner()
    tracker = tracker or default_tracker()
    cancel = cancel or threading.Event()
    force = tuple(force)
    sweep_id = new_execution_id()
    # every point plans the same components: each folder is read once (nothing runs yet)
    with planning_memo():
        doc = load_yaml(find_pipeline_file(path))  # parsed once; each point re-applies its config
        specs = [parse_pipeline(doc, list(p)) for p in points]
        plans = [
            plan_execution(s, runner, tracker, only=only, from_step=from_step, force=force)
            for s in specs
        ]
    group = name or f"{specs[0].name}-sweep-{sweep_id}"
    sweep = SweepResult(group=group, points=[SweepPoint(list(p)) for p in points])
    own = executor is None
    ex: Executor = executor or LocalExecutor(runner, jobs)
    inflight = InFlight()

    def one(i: int) -> ExecutionResult:
        return Execution(
            plans[i],
            tracker,
            ex,
            no_cache=no_cache,
            force=force,
            group=group,
            listener=listener,
            cancel=cancel,
            extra_info={"sweep": sweep_id, "sweep_overrides": list(points[i])},
            inflight=inflight,
        ).run()

    try:
        with ThreadPoolExecutor(max_workers=max(1, len(plans))) as pool:
            for i, res in enumerate(pool.map(one, range(len(plans)))):
                sweep.points[i].result = res
    finally:
        if own:
            ex.shutdown()

    if objective is not None:
        sweep.objective = objective
        for i, point in enumerate(sweep.points):
            if point.result is None or not point.result.ok:
                continue
            found = metric_of(tracker, specs[i], point.result, objective.key)
            if found is None:
                continue
            point.value, point.metric_step, point.metric_run = found
            best = sweep.points[sweep.best].value if sweep.best is not None else None
            if best is None or objective.better(point.value, best):
                sweep.best = i
        if alias_best and sweep.best is not None:
            best_point = sweep.points[sweep.best]
            assert best_point.result is not None and best_point.metric_step is not None
            step_state = best_point.result.steps[best_point.metric_step]
            project = specs[sweep.best].project
            for out, version in step_state.outputs.items():
                ref = f"{project}/{out}:{version}" if project else f"{out}:{version}"
                tracker.alias(ref, alias_best)
                sweep.aliased.append(f"{ref} -> {alias_best}")
    return sweep


def summarize(points: Sequence[SweepPoint]) -> list[dict[str, Any]]:
    """Rows for a sweep table: overrides, status, metric."""
    return [
        {
            "overrides": " ".join(p.overrides),
            "status": p.result.status if p.result else "not run",
            "execution": p.result.execution_id if p.result else None,
            "value": p.value,
        }
        for p in points
    ]
