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
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepline import settings as _settings
from stepline.components.mlproject import find_mlproject
from stepline.errors import EnvError, SpecError, StepFailed, SteplineError, UsageError
from stepline.formats.refs import find_ref
from stepline.pipeline.cache import cache_key
from stepline.pipeline.fingerprint import fingerprint
from stepline.pipeline.tracking import CoreTracker

if TYPE_CHECKING:
    from stepline.backends.base import Backend

HOOK_DIR = Path(__file__).resolve().parent / "mlflow_hook"


def is_course_root(path: str | Path | None) -> bool:
    """True for a directory with an MLproject and no pipeline.yaml."""
    p = Path(path) if path is not None else Path.cwd()
    return (
        p.is_dir()
        and find_mlproject(p) is not None
        and not any((p / n).is_file() for n in ("pipeline.yaml", "pipeline.yml"))
    )


def hook_env(execution: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables that make `mlflow.run` in a launched root come back to this stepline."""
    base = os.environ if base is None else base
    existing = base.get("PYTHONPATH", "")
    parts = [str(HOOK_DIR), *[p for p in existing.split(os.pathsep) if p]]
    return {
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(parts)),
        _settings.PYTHON: sys.executable,
        _settings.EXECUTION: execution,
        _settings.LAUNCH_PATH: base.get(_settings.LAUNCH_PATH) or base.get("PATH", ""),
    }


def step_environment(root_env: Mapping[str, str]) -> dict[str, str]:
    """The environment a step starts from, made from its root's (this process's is left alone).

    Steps run in their own envs, not inside the root's, so the root env's activation is undone
    (PATH as the launcher had it, no VIRTUAL_ENV); the root run's job type (`pipeline`) is not
    the step's, whose component sets its own.
    """
    env = dict(root_env)
    if env.get(_settings.LAUNCH_PATH):
        env["PATH"] = env[_settings.LAUNCH_PATH]
        env.pop("VIRTUAL_ENV", None)
    for var in ("STEPLINE_JOB_TYPE", "WANDB_JOB_TYPE"):
        env.pop(var, None)
    return env


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


def _resolve_inputs(
    tracker: CoreTracker, parameters: Mapping[str, Any], project: str | None, execution: str
) -> dict[str, ResolvedInput]:
    """Parameters whose values resolve to artifact versions: `name:latest` as this execution
    produced it (or took it from the cache) when it did, anything else from the store; the
    same execution-scoped `latest` a pipeline.yaml step's `use_artifact` sees."""
    out: dict[str, ResolvedInput] = {}
    for value in parameters.values():
        text = str(value)
        ref = find_ref(text)
        if ref is None or text in out:
            continue
        target = text if ref.project or not project else f"{project}/{text}"
        try:
            version = tracker.resolve(target, scope=execution or None)
        except (SteplineError, ValueError):
            continue
        if version is None:
            continue
        out[text] = ResolvedInput(text, version.ref, version.digest, version.execution)
    return out


def _join_root(
    backend: Backend, project: str | None, group: str | None, environ: Mapping[str, str]
) -> None:
    """Put the root's run (the main.py calling mlflow.run) in its steps' project and group.

    main.py sets WANDB_PROJECT/WANDB_RUN_GROUP for its steps after its own run was created, so
    the root would otherwise stay in the launcher's default project, alone.
    """
    root = environ.get(_settings.RUN_ID)  # the root's run: the calling process's
    if not root or not (project or group):
        return
    from stepline.tracking.run import place_run

    place_run(root, project=project, group=group, backend=backend)


def _uri_label(uri: str) -> str:
    """The step's name as the summary shows it: the component folder (a git URI's #subdir)."""
    path = uri.split("#", 1)[1] if "#" in uri else uri
    return Path(path.rstrip("/")).name or uri


def _record_unstarted(
    backend: Backend,
    settings: _settings.Settings,
    request: Mapping[str, Any],
    label: str,
    error: str,
    info: Mapping[str, Any] | None = None,
) -> None:
    """A failed run for a step that failed before its run could start (spec or env error), so
    the execution's summary and `stepline runs ls` show it with its reason."""
    from stepline.tracking.runs import start_run

    execution = str(request.get("execution") or "")
    run = start_run(
        backend,
        project=request.get("project"),
        group=request.get("group"),
        job_type=label,
        settings=settings,
    )
    run.set_info(
        **{
            "execution": execution,
            "launch": request.get("launch") or execution,
            "pipeline": "mlflow.run",
            "step": label,
            "source": str(request.get("uri")),
            **(info or {}),
            "started": False,
            "error": error,
        }
    )
    run.finish(status="failed")


def _join_execution(tracker: CoreTracker, request: Mapping[str, Any], run_id: str) -> None:
    """Record the step's execution (the root's, or its Hydra job's) when it is new."""
    execution = str(request.get("execution") or "")
    if execution:
        root = Path(str(request.get("cwd") or ".")).name
        launch = request.get("launch") or execution
        tracker.join_execution(
            execution, run_id, pipeline=root, parameters={"launch": launch, "root": root}
        )


def finish_root(launch: str, status: str) -> list[str]:
    """End the executions of one course-root launch (one per Hydra job of a multirun) with
    the root run's outcome; returns their ids."""
    tracker = CoreTracker()
    runs = tracker.runs(None, {"info.launch": launch})
    executions = sorted({str(r.info["execution"]) for r in runs if r.info.get("execution")})
    state = "finished" if status == "finished" else "failed"
    for execution in executions:
        tracker.end_execution(execution, state)
    return executions


def run_mlflow_step(
    request: Mapping[str, Any],
    on_output: Callable[[str, str], None] | None = None,
    backend: Backend | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    run_step: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Run one intercepted `mlflow.run` call as a cached stepline step; return its outcome.

    `request` has uri, entry_point, version, parameters, env_manager, cwd, run_name,
    execution, project, group (see `mlflow_hook/sitecustomize.py`). Returns
    `{"status": "finished"|"cached"|"failed", "run_id", "cached_from"?, "error"?}`.
    The step's runs go to `backend` (default: the store of the settings `environ`, the calling
    root's environment, gives; default this process's). The cache decision is made here; a
    step that must run is run by `run_step` (default `stepline.components.execute`, here; the
    step server of `--executor ray` ships it to a Ray task), called as `execute` is.
    """
    from stepline.backends import open_backend
    from stepline.components import execute, prepare
    from stepline.tracking.runs import start_run

    environ = os.environ if environ is None else environ
    run_step = run_step or execute
    base = step_environment(environ)
    settings = _settings.Settings.from_env(base)
    backend = backend or open_backend(settings)
    execution = str(request.get("execution") or "")
    project = request.get("project")
    group = request.get("group")
    _join_root(backend, project, group, environ)
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
        error = SpecError(f"mlflow.run({request['uri']!r}): {exc}")
        _record_unstarted(backend, settings, request, _uri_label(str(request["uri"])), str(error))
        raise error from exc
    tracker = CoreTracker(backend, settings)  # the cache and scope engine pipeline.yaml uses
    inputs = _resolve_inputs(tracker, step.parameters, project, execution)
    keyed = fingerprint(step.parameters)
    key = cache_key(
        source_digest=step.source_digest,
        entry_point=step.entry_point,
        parameters=keyed.parameters,
        inputs={r: i.digest for r, i in inputs.items()},
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
        "parameter_notes": keyed.notes,
    }
    if not settings.no_cache:
        hit = tracker.find_cached(project, key.key, None)
        if hit is not None:
            original, outputs = hit
            run = start_run(
                backend,
                project=project,
                group=group,
                job_type=original.job_type,
                settings=settings,
            )
            run.set_info(**info, outputs={n: v.version for n, v in outputs.items()})
            run.mark_cached(original.id)  # links the original's outputs to this run
            _join_execution(tracker, request, str(run.id))
            if on_output:
                label = Path(step.source_dir).name
                on_output("stdout", f"[stepline] {label}: cache hit (run {original.id})")
            return {"status": "cached", "run_id": str(run.id), "cached_from": original.id}
    origins = {i.execution for i in inputs.values() if i.execution and i.ref.endswith(":latest")}
    scope = origins.pop() if len(origins) == 1 else execution
    try:
        result = run_step(
            step,
            project=project,
            group=group,
            run_name=request.get("run_name"),
            extra_env={_settings.SCOPE: scope},
            info=info,
            on_output=on_output,
            backend=backend,
            settings=settings,
            base_env=base,
        )
    except (EnvError, StepFailed) as exc:  # the step's run did not start, or was lost
        started = getattr(exc, "run_id", "")  # a lost Ray worker's run, already ended failed
        if started:
            _join_execution(tracker, request, started)
        else:
            _record_unstarted(
                backend, settings, request, Path(step.source_dir).name, str(exc), info
            )
        raise
    _join_execution(tracker, request, result.run_id)
    out: dict[str, Any] = {"status": result.status, "run_id": result.run_id}
    if result.status != "finished":
        from stepline.pipeline.progress import error_line

        tail = error_line(result.stderr_tail)
        out["error"] = f"exit code {result.exit_code}" + (f": {tail}" if tail else "")
    return out
