"""Pipeline executions: the list of a project's executions and one execution's DAG with live states.

An execution is the run with job_type `pipeline`; its `info.dag` maps each step to its upstream
steps. While it runs, each step's state comes from the step runs recorded so far (`info.execution`
names the execution); once it has finished, from the record it wrote (`info.steps`), which also
knows the steps that never got a run (skipped, cancelled).
"""

from __future__ import annotations

from typing import Any

from stepline.backends.base import RunQuery
from stepline.errors import NotFound
from stepline.ui.data import lineage
from stepline.ui.data.runs import run_brief


def executions(meta: Any, project: str, limit: int = 100) -> dict[str, Any]:
    """The newest pipeline executions of a project."""
    found = meta.find_runs(RunQuery(project=project, filters={"job_type": "pipeline"}, limit=limit))
    return {
        "project": project,
        "executions": [
            {
                **run_brief(r),
                "execution": r.info.get("execution"),
                "pipeline": r.info.get("pipeline"),
                "steps": len(r.info.get("dag") or {}),
                "status": r.info.get("status") or r.state,
            }
            for r in found
        ],
    }


def execution(meta: Any, project: str, run_ref: str) -> dict[str, Any]:
    """One execution's steps (state, run, timing, outputs) and its DAG laid out for drawing."""
    run = meta.get_run(run_ref, project)
    dag: dict[str, list[str]] = run.info.get("dag") or {}
    if run.job_type != "pipeline" or not dag:
        raise NotFound(
            f"run {run.id} is not a pipeline execution; open it at /projects/{project}/runs/{run.id}"
        )
    exec_id = run.info.get("execution")
    selected = set(run.info.get("selected") or dag)
    record: dict[str, Any] = run.info.get("steps") or {}
    step_runs = meta.find_runs(
        RunQuery(project=project, filters={"info.execution": exec_id}, order=("created_at",))
    )
    by_step: dict[str, Any] = {}
    for r in step_runs:
        if r.id != run.id and r.job_type in dag:
            by_step[r.job_type] = r  # the newest run of a step wins
    steps: list[dict[str, Any]] = []
    for name in sorted(dag):
        rec = record.get(name) or {}
        r = by_step.get(name)
        if name not in selected:
            state = "not selected"
        elif rec.get("state"):
            state = rec["state"]
        elif r is not None:
            state = r.state
        else:
            state = "pending" if run.state == "running" else "not run"
        duration = rec.get("duration")
        if duration is None and r is not None:
            duration = (r.ended_at or r.heartbeat_at or r.created_at) - r.created_at
        steps.append(
            {
                "name": name,
                "state": state,
                "upstream": sorted(dag[name]),
                "run_id": (r.id if r is not None else rec.get("run_id")),
                "cached_from": rec.get("cached_from")
                or (r.info.get("cached_from") if r is not None else None),
                "duration": duration,
                "reason": rec.get("reason") or "",
                "outputs": rec.get("outputs")
                or ((r.info.get("outputs") or {}) if r is not None else {}),
            }
        )
    nodes = {s["name"]: {"id": s["name"], "label": s["name"], "state": s["state"]} for s in steps}
    edges = {(u, s["name"]) for s in steps for u in s["upstream"] if u in nodes}
    lineage.layout(nodes, edges)
    for s in steps:
        s["x"], s["y"] = nodes[s["name"]]["x"], nodes[s["name"]]["y"]
    steps.sort(key=lambda s: (s["x"], s["y"]))  # upstream first, as the DAG reads
    return {
        "project": project,
        "execution": {
            **run_brief(run),
            "execution": exec_id,
            "pipeline": run.info.get("pipeline"),
            "status": run.info.get("status") or run.state,
        },
        "live": run.state == "running",
        "steps": steps,
        "edges": [{"source": a, "target": b} for a, b in sorted(edges)],
    }
