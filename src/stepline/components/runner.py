"""Running a component: `prepare` (resolve everything, build nothing) then `execute` (a run).

    step = prepare("components/get_data", parameters={"sample": "sample1.csv"})
    step.command, step.env_digest, step.source_digest      # known before anything runs
    result = execute(step, job_type="download", on_output=lambda s, l: print(s, l))
    result.status, result.exit_code, result.run_id

`execute` activates the env (building it once), creates a stepline run, runs `bash -c command`
in the component directory with the run's variables, streams and captures its output, and
finishes the run from the exit code. Ctrl-C, SIGTERM or SIGHUP stop the whole process group
and fail the run, and a watchdog stops it if the launcher dies without a word (SIGKILL): no
component outlives its launcher (see `supervise.py`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from stepline.components.memo import remembered
from stepline.components.mlproject import load_project
from stepline.components.params import render, render_command
from stepline.components.sources import resolve_source
from stepline.components.supervise import Terminated, Watchdog, forwarded_signals
from stepline.components.tree import Snapshot, record_writes, snapshot, tree_digest
from stepline.envs.manager import EnvPlan, activate, plan_env
from stepline.settings import DIR, Settings, current

if TYPE_CHECKING:
    from stepline.backends.base import Backend

OutputFn = Callable[[str, str], None]
TAIL_LINES = 20


@dataclass(frozen=True)
class PreparedStep:
    """A component resolved and validated, ready to execute (see the module docstring)."""

    source_dir: Path
    source_digest: str
    name: str
    entry_point: str
    parameters: dict[str, str]
    command: str
    env_manager: str
    env_digest: str
    uri: str = ""
    commit: str | None = None
    plan: EnvPlan | None = field(default=None, repr=False, compare=False)
    #: what the run records instead of `parameters` / `command` (values kept out: secrets)
    recorded_parameters: dict[str, str] = field(default_factory=dict)
    recorded_command: str = ""
    #: the MLproject's `resources:` for this entry point (cpus, gpus, memory in bytes)
    resources: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.recorded_parameters:
            object.__setattr__(self, "recorded_parameters", dict(self.parameters))
        if not self.recorded_command:
            object.__setattr__(self, "recorded_command", self.command)


@dataclass(frozen=True)
class StepResult:
    """How an execution ended."""

    run_id: str
    status: str
    exit_code: int
    stderr_tail: list[str]
    duration: float
    stdout_tail: list[str] = field(default_factory=list)


def prepare(
    uri: str | os.PathLike[str],
    entry_point: str = "main",
    parameters: Mapping[str, Any] | None = None,
    env_manager: str | None = None,
    version: str | None = None,
    *,
    wandb: str = "stepline",
    cwd: str | os.PathLike[str] | None = None,
    recorded: Mapping[str, str] | None = None,
) -> PreparedStep:
    """Fetch the source, parse its MLproject, validate and render parameters, plan the env.

    `wandb="real"` keeps a real `wandb` requirement instead of stepline's drop-in module.
    `recorded` maps parameters to the text the run records instead of their value (a
    pipeline passes `${oc.env:TOKEN}` so that secrets stay out of the store); the command
    is recorded with that text too, while the step runs with the values.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    source = resolve_source(os.fspath(uri), version, base)
    folder = str(Path(source.directory).resolve())
    project = remembered("project", folder, lambda: load_project(source.directory))
    ep = project.entry_point(entry_point)
    where = f"{project.file or project.directory} (entry point '{ep.name}')"
    rendered = render(ep, parameters, where=where, cwd=base)
    shown = {
        **rendered.parameters,
        **{k: v for k, v in (recorded or {}).items() if k in rendered.parameters},
    }
    plan = plan_env(project.env, env_manager, real_wandb=wandb == "real")
    return PreparedStep(
        source_dir=source.directory,
        source_digest=remembered("digest", folder, lambda: tree_digest(source.directory)),
        name=project.name,
        entry_point=ep.name,
        parameters=rendered.parameters,
        command=rendered.command,
        env_manager=plan.manager,
        env_digest=plan.digest,
        uri=os.fspath(uri),
        commit=source.commit,
        plan=plan,
        recorded_parameters=shown,
        recorded_command=render_command(ep, shown, where)
        if shown != rendered.parameters
        else rendered.command,
        resources=project.resources_of(ep),
    )


def _pump(
    stream: IO[str],
    name: str,
    sink: IO[str],
    tail: deque[str],
    on_output: OutputFn | None,
) -> None:
    for line in stream:
        sink.write(line)
        sink.flush()
        text = line.rstrip("\n")
        tail.append(text)
        if on_output is not None:
            on_output(name, text)
    stream.close()


def stop_group(proc: subprocess.Popen[str], grace: float = 5.0, first: int = signal.SIGINT) -> None:
    """Stop the process group of `proc`: `first` (SIGINT), then SIGTERM, then SIGKILL.

    The group is signalled even after the leader exits, so background children (which ignore
    SIGINT in a non-interactive shell) do not outlive the step.
    """
    order = [first, *(s for s in (signal.SIGINT, signal.SIGTERM) if s != first), signal.SIGKILL]
    if first == signal.SIGTERM:
        order.remove(signal.SIGINT)
    for sig in order:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace if sig != signal.SIGKILL else None)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(proc.pid):
            break
        time.sleep(0.05)
    if proc.returncode is None:
        proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_process(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    log_dir: Path,
    on_output: OutputFn | None = None,
) -> tuple[int, list[str]]:
    """Run `argv` in its own process group; stream, capture to log_dir/{stdout,stderr}.log.

    Returns (exit code, last stderr lines). A KeyboardInterrupt stops the group and re-raises.
    """
    rc, err_tail, _out_tail = run_process_tails(argv, cwd, env, log_dir, on_output)
    return rc, err_tail


def run_process_tails(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    log_dir: Path,
    on_output: OutputFn | None = None,
) -> tuple[int, list[str], list[str]]:
    """As `run_process`, returning (exit code, last stderr lines, last stdout lines)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    out_tail: deque[str] = deque(maxlen=TAIL_LINES)
    with (
        open(log_dir / "stdout.log", "w", encoding="utf-8") as out_log,
        open(log_dir / "stderr.log", "w", encoding="utf-8") as err_log,
    ):
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        watchdog = Watchdog(proc.pid)
        threads = [
            threading.Thread(
                target=_pump, args=(proc.stdout, "stdout", out_log, out_tail, on_output)
            ),
            threading.Thread(target=_pump, args=(proc.stderr, "stderr", err_log, tail, on_output)),
        ]
        ended = False
        try:
            with forwarded_signals():
                for t in threads:
                    t.daemon = True
                    t.start()
                rc = proc.wait()
            ended = True
        except BaseException as exc:
            term = isinstance(exc, Terminated)
            stop_group(proc, first=signal.SIGTERM if term else signal.SIGINT)
            ended = not _group_alive(proc.pid)
            raise
        finally:
            # a stop cut short (a second interrupt) leaves the group to the watchdog
            if ended:
                watchdog.release()
            else:
                watchdog.abandon()
            for t in threads:
                if t.is_alive():
                    t.join(timeout=5)
    return rc, list(tail), list(out_tail)


def execute(
    step: PreparedStep,
    project: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    run_name: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    info: Mapping[str, Any] | None = None,
    on_output: OutputFn | None = None,
    backend: Backend | None = None,
    settings: Settings | None = None,
    base_env: Mapping[str, str] | None = None,
) -> StepResult:
    """Activate the env, create the run, run the command, finish the run (module docstring).

    `on_output(stream, line)` gets each output line as it comes: stream is `stdout`, `stderr`,
    or `env` for the env build log (only when the env is built by this call). An env that
    cannot be built raises EnvError before any run is created.

    The run is made on `backend` (default: the store `settings` name), with the run defaults
    of `settings` (default: this process's, read now). The command's environment starts from
    `base_env` (default: this process's), never changing this process's own.
    """
    # the tracking core (and its database driver) loads only when a step runs, not to prepare
    from stepline.backends import open_backend
    from stepline.tracking.runs import start_run

    settings = settings or current()
    backend = backend or open_backend(settings)
    plan = step.plan or plan_env(load_project(step.source_dir).env, step.env_manager)
    on_log = (lambda line: on_output("env", line)) if on_output is not None else None
    active = activate(plan, on_log=on_log, component=step.name, base_env=base_env)
    active.component_dir = step.source_dir
    started = time.perf_counter()
    run = start_run(
        backend,
        project=project,
        group=group,
        job_type=job_type,
        name=run_name,
        config=dict(step.recorded_parameters),
        settings=settings,
    )
    facts: dict[str, Any] = {
        "command": step.recorded_command,
        "entry_point": step.entry_point,
        "component": step.name,
        "source": step.uri,
        "source_dir": str(step.source_dir),
        "source_digest": step.source_digest,
        "env_manager": step.env_manager,
        "env_digest": step.env_digest,
    }
    if step.commit:
        facts["git_commit"] = step.commit
    if active.built is not None:
        facts["env_path"] = str(active.built.path)
        facts["env_built_now"] = active.built.built_now
    facts.update(info or {})
    run.set_info(**facts)
    python, python_version = active.python()
    run.set_program(step.recorded_command, python=python, python_version=python_version)
    env = {**active.env, **run.child_env(), **(extra_env or {})}
    if extra_env and "PYTHONPATH" in extra_env and active.env.get("PYTHONPATH"):
        # keep the env's own entries (stepline's shim) beside the caller's (the mlflow hook)
        parts = [
            *extra_env["PYTHONPATH"].split(os.pathsep),
            *active.env["PYTHONPATH"].split(os.pathsep),
        ]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in parts if p))
    store = env.get(DIR)
    active.store_dir = Path(store) if store else None
    if active.build_log:
        run.attach_log("build", active.build_log.encode())
    with tempfile.TemporaryDirectory(prefix="stepline-step-") as tmp:
        log_dir = Path(tmp)
        # what the run writes into its own folder must not change the component's digest
        before = snapshot(step.source_dir)
        try:
            argv = active.argv(step.command, env)
            rc, tail, out_tail = run_process_tails(argv, step.source_dir, env, log_dir, on_output)
        except BaseException as exc:
            _attach(run, log_dir)
            stopped = isinstance(exc, KeyboardInterrupt | Terminated)
            run.set_info(
                interrupted=stopped,
                error=repr(exc),
                wrote=_record_writes(step.source_dir, before),
            )
            run.finish(status="failed")
            raise
        _attach(run, log_dir)
    wrote = _record_writes(step.source_dir, before)
    if wrote:
        run.set_info(wrote=wrote[:100], wrote_count=len(wrote))
    run.set_info(exit_code=rc)
    run.finish(exit_code=rc)
    return StepResult(
        run_id=str(run.id),
        status=run._record.state,  # `failed` also when the component lost metric points
        exit_code=rc,
        stderr_tail=tail,
        duration=time.perf_counter() - started,
        stdout_tail=out_tail,
    )


def _record_writes(directory: Path, before: Snapshot) -> list[str]:
    """The files the run created or changed in its folder (remembered; see components.tree)."""
    try:
        return record_writes(directory, before)
    except OSError:  # a read-only cache folder: the digest then counts them, as before
        return []


def _attach(run: Any, log_dir: Path) -> None:
    for stream in ("stdout", "stderr"):
        path = log_dir / f"{stream}.log"
        if path.exists():
            run.attach_log(stream, str(path))
