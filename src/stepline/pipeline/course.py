"""Course-style pipelines: a root `MLproject` whose Hydra `main.py` calls `mlflow.run` per step.

Launching such a root (`stepline run .`) puts `HOOK_DIR` on PYTHONPATH, so `mlflow.run(...)`
inside main.py hands each call back to stepline (`run_mlflow_step`), which runs it as a
tracked, cached step: the cache key takes the component source, entry point, parameters,
env, and the digest of every parameter that names an artifact in the store
(`sample.csv:latest`, `clean_sample.csv:reference`), since such calls declare no inputs.

    spec = root_request(".", steps=["download"], overrides=["etl.min_price=20"])
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline.errors import NotFound, SpecError, SteplineError, UsageError
from stepline.pipeline.cache import cache_key, file_digests

HOOK_DIR = Path(__file__).resolve().parent / "mlflow_hook"
_REF = re.compile(r"^(?:[A-Za-z0-9_.\-]+/)?[A-Za-z0-9_.\-]+:[A-Za-z0-9_.\-]+$")


def is_course_root(path: str | Path | None) -> bool:
    """True for a directory with an MLproject and no pipeline.yaml."""
    p = Path(path) if path is not None else Path.cwd()
    return (
        p.is_dir()
        and any((p / n).is_file() for n in ("MLproject", "MLproject.yaml"))
        and not any((p / n).is_file() for n in ("pipeline.yaml", "pipeline.yml"))
    )


def hook_env(execution: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables that make `mlflow.run` in a launched root come back to this stepline."""
    base = os.environ if base is None else base
    existing = base.get("PYTHONPATH", "")
    parts = [str(HOOK_DIR), *[p for p in existing.split(os.pathsep) if p]]
    return {
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(parts)),
        "STEPLINE_PYTHON": sys.executable,
        "STEPLINE_EXECUTION": execution,
        "STEPLINE_LAUNCH_PATH": base.get("STEPLINE_LAUNCH_PATH") or base.get("PATH", ""),
    }


def root_parameters(
    declared: Iterable[str], steps: Iterable[str] | None, overrides: Iterable[str], multirun: bool
) -> dict[str, str]:
    """Parameters for the root entry point: `steps` (comma list) and `hydra_options`."""
    declared = set(declared)
    params: dict[str, str] = {}
    steps = list(steps or [])
    if steps:
        if "steps" not in declared:
            raise UsageError("-s: this root MLproject has no 'steps' parameter")
        params["steps"] = ",".join(steps)
    # `-m` last: Hydra's argparse stops taking overrides at an option, and the root command
    # already starts with `main.steps=...`
    options = [*overrides, *(["-m"] if multirun else [])]
    if options:
        if "hydra_options" not in declared:
            raise UsageError("overrides: this root MLproject has no 'hydra_options' parameter")
        params["hydra_options"] = " ".join(options)
    return params


@dataclass(frozen=True)
class ResolvedInput:
    """A parameter value that names an artifact version in the store."""

    ref: str
    version: str  # project/name:vN
    digest: str
    execution: str | None


def _scoped_latest(api: Any, project: str | None, name: str, execution: str) -> Any | None:
    """The newest version of `name` this execution produced or took from the cache."""
    if not execution:
        return None
    for view in api.runs(project, filters={"info.execution": execution}, order="-created_at"):
        if view.state == "cached":
            version = (view.info.get("outputs") or {}).get(name)
            if version:
                return api.artifact(f"{view.project}/{name}:{version}")
        elif view.state == "finished":
            for art in view.logged_artifacts():
                if art.name == name:
                    return art
    return None


def _resolve_inputs(
    parameters: Mapping[str, Any], project: str | None, execution: str
) -> dict[str, ResolvedInput]:
    """Parameters whose values resolve to artifact versions: `name:latest` as this execution
    produced it (or took it from the cache) when it did, anything else from the store."""
    import stepline

    api = stepline.Api()
    out: dict[str, ResolvedInput] = {}
    for value in parameters.values():
        text = str(value)
        if not _REF.match(text) or text in out:
            continue
        ref_project, _, rest = text.rpartition("/")
        name, _, alias = rest.partition(":")
        try:
            art = None
            if alias == "latest":
                art = _scoped_latest(api, ref_project or project, name, execution)
            if art is None:
                art = api.artifact(text if ref_project or not project else f"{project}/{text}")
        except (SteplineError, ValueError):
            continue
        producer = art.logged_by()
        origin = (getattr(producer, "info", None) or {}).get("execution") if producer else None
        out[text] = ResolvedInput(
            text, f"{art.project}/{art.name}:{art.version}", art.digest, origin
        )
    return out


def _cached(project: str | None, key: str) -> tuple[Any, list[Any]] | None:
    """The newest finished run with `key` whose logged versions all still exist."""
    import stepline

    api = stepline.Api()
    for view in api.runs(project, filters={"info.cache_key": key, "state": "finished"}):
        outputs = view.logged_artifacts()
        try:
            for art in outputs:
                api.artifact(f"{art.project}/{art.name}:{art.version}")
        except NotFound:
            continue
        return view, outputs
    return None


def run_mlflow_step(
    request: Mapping[str, Any], on_output: Callable[[str, str], None] | None = None
) -> dict[str, Any]:
    """Run one intercepted `mlflow.run` call as a cached stepline step; return its outcome.

    `request` has uri, entry_point, version, parameters, env_manager, cwd, run_name,
    execution, project, group (see `mlflow_hook/sitecustomize.py`). Returns
    `{"status": "finished"|"cached"|"failed", "run_id", "cached_from"?, "error"?}`.
    """
    import stepline
    from stepline.components import execute, prepare

    # steps run in their own envs, not inside the root's: undo the root env's activation
    if os.environ.get("STEPLINE_LAUNCH_PATH"):
        os.environ["PATH"] = os.environ["STEPLINE_LAUNCH_PATH"]
        os.environ.pop("VIRTUAL_ENV", None)
    # the root run's job type ("pipeline") is not the step's; its component sets its own
    for var in ("STEPLINE_JOB_TYPE", "WANDB_JOB_TYPE"):
        os.environ.pop(var, None)
    execution = str(request.get("execution") or "")
    project = request.get("project")
    group = request.get("group")
    try:
        step = prepare(
            request["uri"],
            entry_point=request.get("entry_point") or "main",
            parameters=request.get("parameters") or {},
            env_manager=request.get("env_manager"),
            version=request.get("version"),
            cwd=request.get("cwd"),
        )
    except SteplineError as exc:
        raise SpecError(f"mlflow.run({request['uri']!r}): {exc}") from exc
    inputs = _resolve_inputs(step.parameters, project, execution)
    key = cache_key(
        source_digest=step.source_digest,
        entry_point=step.entry_point,
        parameters=step.parameters,
        inputs={
            **{r: i.digest for r, i in inputs.items()},
            **file_digests(step.parameters),
        },
        env_digest=step.env_digest,
    )
    info = {
        "execution": execution,
        "launch": request.get("launch") or execution,
        "pipeline": "mlflow.run",
        "step": Path(step.source_dir).name,
        "cache_key": key.key,
        "cache_fields": dict(key.fields),
        "inputs_resolved": {r: i.version for r, i in inputs.items()},
    }
    if os.environ.get("STEPLINE_NO_CACHE") != "1":
        hit = _cached(project, key.key)
        if hit is not None:
            original, outputs = hit
            run = stepline.init(
                project=project,
                group=group,
                job_type=original.job_type,
                reinit="create_new",
            )
            run.set_info(
                **info,
                cached_from=original.id,
                outputs={a.name: a.version for a in outputs},
            )
            run.finish(status="cached")
            if on_output:
                label = Path(step.source_dir).name
                on_output("stdout", f"[stepline] {label}: cache hit (run {original.id})")
            return {"status": "cached", "run_id": str(run.id), "cached_from": original.id}
    origins = {i.execution for i in inputs.values() if i.execution and i.ref.endswith(":latest")}
    scope = origins.pop() if len(origins) == 1 else execution
    result = execute(
        step,
        project=project,
        group=group,
        run_name=request.get("run_name"),
        extra_env={"STEPLINE_SCOPE": scope},
        info=info,
        on_output=on_output,
    )
    out: dict[str, Any] = {"status": result.status, "run_id": result.run_id}
    if result.status != "finished":
        from stepline.pipeline.progress import error_line

        tail = error_line(result.stderr_tail)
        out["error"] = f"exit code {result.exit_code}" + (f": {tail}" if tail else "")
    return out
