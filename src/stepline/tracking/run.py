"""`stepline.init()` and the `Run` it returns: config, metrics, summary, artifacts, lifecycle."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepline import settings as _settings
from stepline._settings import store_dir
from stepline.backends import get_backend
from stepline.backends.base import Backend, RunRecord
from stepline.errors import MetricsLost, UsageError
from stepline.states import RUN_TERMINAL
from stepline.store import writers
from stepline.tracking import naming
from stepline.tracking.history import HistoryWriter
from stepline.tracking.media import MEDIA_TYPES
from stepline.tracking.state import Config, Summary
from stepline.tracking.values import check_metric, config_from, to_plain

if TYPE_CHECKING:
    import logging

    from stepline.tracking.artifact import Artifact


def _logger() -> logging.Logger:
    """The `stepline` logger (logging is imported only when there is something to say)."""
    import logging

    return logging.getLogger("stepline")


def git_commit(start: Path) -> tuple[Path, str] | None:
    """(repo root, HEAD commit) read from `.git` files, without running git."""
    for folder in (start, *start.parents):
        git = folder / ".git"
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text().strip()
                if not head.startswith("ref: "):
                    return folder, head
                ref = head[5:]
                ref_file = git / ref
                if ref_file.exists():
                    return folder, ref_file.read_text().strip()
                packed = git / "packed-refs"
                if packed.exists():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return folder, line.split()[0]
            except OSError:
                return None
            return None
    return None


class Run:
    """One execution: its config, metric history, summary, inputs and outputs.

    >>> with stepline.init(project="nyc_airbnb", job_type="basic_cleaning") as run:
    ...     run.log({"rows": 1000})
    """

    def __init__(
        self,
        backend: Backend,
        record: RunRecord,
        owner: bool,
        start_step: int = 0,
        settings: _settings.Settings | None = None,
    ):
        self._backend = backend
        self._settings = settings or _settings.current()
        self._record = record
        self._owner = owner
        self._finished = False
        self._step = start_step
        self._pending: dict[str, Any] | None = None
        self.config = Config(record.config, self._save_config)
        self.summary = Summary(record.summary)
        self._history = HistoryWriter(
            self._write_rows,
            self._write_summary,
            heartbeat=lambda: self._backend.heartbeat(self.id),
            heartbeat_seconds=self._settings.heartbeat_interval,
            label=record.id,
        )
        self._history.start()  # the flusher also keeps the heartbeat fresh while the run lives
        self._git_thread: threading.Thread | None = None
        self._files_dir: str | None = None
        #: the local store folder: run files live below it, and child processes are sent to it
        #: (a local backend's own folder; otherwise the one this process's settings name)
        root = getattr(backend, "root", None)
        self._store_dir = Path(root) if root is not None else store_dir(self._settings)

    # -- identity -----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def project(self) -> str:
        return self._record.project

    @property
    def group(self) -> str | None:
        return self._record.group

    @property
    def job_type(self) -> str | None:
        return self._record.job_type

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._record.tags)

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._record.tags = list(value)
        self._backend.update_run(self.id, tags=self._record.tags)

    @property
    def notes(self) -> str | None:
        return self._record.notes

    @property
    def step(self) -> int:
        return self._step

    @property
    def dir(self) -> str:
        """A folder for this run's own files: `init(dir=...)`/`run-<id>`, else inside the store."""
        base = Path(self._files_dir) if self._files_dir else self._store_dir / "runs"
        path = base / self.id / "files"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def __repr__(self) -> str:
        return f"<Run {self.project}/{self.id} ({self.name})>"

    # -- writing --------------------------------------------------------------------------------
    def _save_config(self, patch: dict[str, Any]) -> None:
        self._backend.merge_run(self.id, "config", patch)

    def _write_rows(self, first_step: int, last_step: int, data: str) -> None:
        self._backend.append_history(self.id, first_step, last_step, data)

    def _write_summary(self) -> None:
        dirty = self.summary.take_dirty()
        if dirty:
            try:
                self._backend.merge_run(self.id, "summary", dirty)
            except BaseException:
                self.summary._restore_dirty(dirty)  # retried with the next flush
                raise

    def _media(self, key: str, value: Any) -> dict[str, Any]:
        mime, data = value.payload()
        oid = self._backend.objects.put_bytes(data)
        kind = "image-file" if mime == "image/png" else "table-file"
        out = {"_type": kind, "digest": oid, "size": len(data), "mime": mime}
        if getattr(value, "caption", None):
            out["caption"] = value.caption
        return out

    def _plain_row(self, data: dict[str, Any]) -> dict[str, Any]:
        for value in data.values():  # the common case: plain finite numbers and strings
            kind = type(value)
            if kind is float:
                if value - value != 0.0:  # NaN or infinity
                    break
            elif kind is not int and kind is not str and kind is not bool and value is not None:
                break
        else:
            return dict(data)
        row: dict[str, Any] = {}
        for key, value in data.items():
            if type(value) is float:
                check_metric(key, value)
                row[key] = value
            elif type(value) in (int, str, bool) or value is None:
                row[key] = value
            elif isinstance(value, MEDIA_TYPES):
                row[key] = self._media(key, value)
            else:
                plain = to_plain(value, key)
                if isinstance(plain, float):
                    check_metric(key, plain)
                row[key] = plain
        return row

    def log(
        self, data: dict[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """Add `data` to the history at the current step (a new step per call unless commit=False).

        With `step=N`, values go to step N (earlier steps are dropped with a warning); a row with an
        explicit step is written when a later step arrives, or on `commit=True`.
        """
        if not isinstance(data, dict):
            raise UsageError(f"run.log takes a dict of metrics, not {type(data).__name__}")
        row = self._plain_row(data)
        if step is not None:
            if step < self._step:
                _logger().warning(
                    "run %s: step %d < current step %d; dropped %s",
                    self.id,
                    step,
                    self._step,
                    sorted(row),
                )
                return
            if step > self._step and self._pending is not None:
                self._commit_row()
            self._step = step
            if commit is None:
                commit = False
        elif commit is None:
            commit = True
        if self._pending is None:
            self._pending = row
        else:
            self._pending.update(row)
        if commit:
            self._commit_row()

    def _commit_row(self) -> None:
        row, self._pending = self._pending, None
        if row is None:
            return
        self._history.add(self._step, row)
        self.summary._set_many(row)
        self._step += 1

    def set_info(self, **fields: Any) -> None:
        """Record facts about the run (command, source digest, cache key, …), queryable as info.*"""
        patch = to_plain(fields, "info")
        self._record.info = self._backend.merge_run(self.id, "info", patch)

    def set_program(
        self, command: str, python: str | None = None, python_version: str | None = None
    ) -> None:
        """Record what the run executes when that is not this process: a runner's component.

        `command` replaces the launcher's command line; `python` (the interpreter's path, kept
        as `info.python`) and `python_version` the launcher's interpreter.
        """
        fields: dict[str, Any] = {"command": command}
        if python_version:
            fields["python_version"] = python_version
        self._backend.update_run(self.id, **fields)
        self._record.command = command
        if python_version:
            self._record.python_version = python_version
        if python:
            self.set_info(python=python)

    def attach_log(self, stream: str, source: str | os.PathLike[str] | bytes) -> None:
        """Keep captured output (`stdout`, `stderr`, `build`) on the run."""
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        self._backend.put_log(self.id, stream, data)

    def mark_cached(self, original_run_id: str) -> None:
        """Finish as a step-cache hit of `original_run_id`: link its outputs to this run too."""
        self.set_info(cached_from=original_run_id)
        for version in self._backend.outputs(original_run_id):
            self._backend.record_output(self.id, version.id)
        self.finish(status="cached")

    def child_env(self) -> dict[str, str]:
        """Variables that make `stepline.init()` in a child process attach to this run."""
        env = {
            _settings.DIR: str(self._store_dir),
            _settings.RUN_ID: self.id,
            "WANDB_RUN_ID": self.id,
            "STEPLINE_PROJECT": self.project,
            "WANDB_PROJECT": self.project,
        }
        if self.group:
            env["STEPLINE_RUN_GROUP"] = env["WANDB_RUN_GROUP"] = self.group
        if self.job_type:
            env["STEPLINE_JOB_TYPE"] = env["WANDB_JOB_TYPE"] = self.job_type
        url = self._settings.database_url
        if url:
            env[_settings.DATABASE_URL] = url
        if getattr(self._backend, "offline", False):  # the server was lost: the child records
            env[_settings.TRACKING_URI] = ""  # where this run now is, the local store
        return env

    # -- artifacts ------------------------------------------------------------------------------
    def log_artifact(
        self,
        artifact: Artifact | str,
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
    ) -> Artifact:
        """Commit `artifact` as a new version produced by this run (none if equal to `latest`)."""
        from stepline.tracking.artifact import Artifact, log_artifact

        if not isinstance(artifact, Artifact):
            path = Path(artifact)
            art = Artifact(name or path.name, type or "unspecified")
            if path.is_dir():
                art.add_dir(path)
            else:
                art.add_file(path)
            artifact = art
        logged = log_artifact(self._backend, artifact, self.project, self.id, aliases or ())
        from stepline.monitor.reference import log_reference_profile

        log_reference_profile(self._backend, logged, self.project, self.id)
        return logged

    def use_artifact(self, ref: Artifact | str, type: str | None = None) -> Artifact:
        """Declare an input: `name:alias`, `name:vN` or `project/name:alias`; returns the version."""
        from stepline.tracking.artifact import Artifact, use_artifact

        if isinstance(ref, Artifact) and ref._record is None:
            self.log_artifact(ref)
        return use_artifact(self._backend, ref, self.project, self.id, type)

    def link_artifact(
        self, artifact: Artifact, target: str, aliases: Sequence[str] | None = None
    ) -> None:
        """Register a logged version in a registry collection: `model-registry/NAME`."""
        from stepline.tracking.artifact import register_version

        record = artifact._logged("link_artifact")
        register_version(self._backend, record, target.split("/")[-1], aliases or ())

    def logged_artifacts(self) -> list[Artifact]:
        from stepline.tracking.artifact import Artifact

        return [Artifact._from_record(self._backend, v) for v in self._backend.outputs(self.id)]

    def used_artifacts(self) -> list[Artifact]:
        from stepline.tracking.artifact import Artifact

        return [Artifact._from_record(self._backend, v) for v in self._backend.inputs(self.id)]

    # -- lifecycle ------------------------------------------------------------------------------
    def _check_dirty(self, root: Path) -> None:
        def dirty() -> None:
            import subprocess

            try:
                out = subprocess.run(
                    ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
                self._backend.update_run(self.id, git_dirty=bool(out.stdout.strip()))
            except (OSError, subprocess.SubprocessError):
                pass

        self._git_thread = threading.Thread(target=dirty, daemon=True, name="stepline-git")
        self._git_thread.start()

    def finish(self, exit_code: int | None = None, status: str | None = None) -> None:
        """Flush everything and close the run: `finished`, or `failed` when exit_code is non-zero.

        Metric points that still cannot be written after retrying (a full disk) fail the run:
        its `info` records `lost_points`, `logged_points` and `lost_reason`, and `MetricsLost`
        is raised.
        """
        if self._finished:
            return
        state = status or ("failed" if exit_code else "finished")
        if self._owner and state not in RUN_TERMINAL:
            raise UsageError(f"finish(status={state!r}): use one of {', '.join(RUN_TERMINAL)}")
        self._finished = True
        if self._pending is not None:
            self._commit_row()
        lost = self._history.close()
        if self._git_thread is not None:
            self._git_thread.join(timeout=10)
        _registry.discard(self)
        info: dict[str, Any] | None = None
        if lost:
            error = self._history.error
            cause = getattr(error, "orig", None) or error  # the driver's words, not SQLAlchemy's
            reason = str(cause).splitlines()[0] if cause is not None else "unknown"
            info = {
                "lost_points": lost,
                "logged_points": self._history.logged,
                "lost_reason": reason,
            }
        try:
            if self._owner or info:
                final = self._backend.end_run(
                    self.id,
                    state if self._owner else None,
                    exit_code=exit_code,
                    ended_at=time.time(),
                    info=info,
                )
                if final is not None:
                    self._record.state = final
        except Exception as exc:
            if info is None:
                raise
            recorded = f"; the run could not be marked failed either ({exc})"
        else:
            recorded = "; the run is marked failed" if info else ""
        if info is not None:
            raise MetricsLost(
                f"run {self.id}: {lost:,} of {self._history.logged:,} metric points could not"
                f" be written ({info['lost_reason']}){recorded}"
            )

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.finish(exit_code=1 if exc_type else 0)

    def _crash(self) -> None:
        if not self._finished:
            try:
                self.finish(status="crashed", exit_code=1)
            except Exception:  # the process is going down; nothing else to do
                pass


# -- the process-wide run registry and crash handling ------------------------------------------
class _Registry:
    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.active: Run | None = None
        self.hooked = False
        self.lock = threading.Lock()

    def add(self, run: Run, make_active: bool) -> None:
        with self.lock:
            self.runs.append(run)
            if make_active or self.active is None:
                self.active = run
        self._hook()
        if self.active is run:
            _publish(run)

    def discard(self, run: Run) -> None:
        with self.lock:
            if run in self.runs:
                self.runs.remove(run)
            if self.active is run:
                self.active = None
                _publish(None)

    def crash_all(self) -> None:
        for run in list(self.runs):
            run._crash()

    def _hook(self) -> None:
        if self.hooked:
            return
        self.hooked = True
        previous = sys.excepthook

        def excepthook(kind: Any, value: Any, tb: Any) -> None:
            if not issubclass(kind, KeyboardInterrupt | SystemExit):
                self.crash_all()
            previous(kind, value, tb)

        sys.excepthook = excepthook
        atexit.register(_at_exit)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                if signal.getsignal(sig) in (signal.SIG_DFL, None):
                    signal.signal(sig, _on_signal)


def _on_signal(signum: int, _frame: Any) -> None:
    _registry.crash_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _at_exit() -> None:
    for run in list(_registry.runs):
        try:
            run.finish(exit_code=0 if not getattr(sys, "last_value", None) else 1)
        except MetricsLost as exc:
            _logger().error("stepline: %s", exc)
        except Exception:
            pass


def _publish(run: Run | None) -> None:
    module = sys.modules.get("stepline")
    if module is not None:
        module.run = run  # type: ignore[attr-defined]
        if run is not None:
            module.config = run.config  # type: ignore[attr-defined]
            module.summary = run.summary  # type: ignore[attr-defined]


_registry = _Registry()


def active_run() -> Run | None:
    """The run `init()` made current in this process, if any."""
    return _registry.active


def init(
    project: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    resume: bool | str | None = None,
    id: str | None = None,
    reinit: bool | str | None = None,
    config_exclude_keys: Sequence[str] | None = None,
    config_include_keys: Sequence[str] | None = None,
    **_ignored: Any,
) -> Run:
    """Start (or attach to) a run and make it this process's current run.

    >>> run = stepline.init(project="nyc_airbnb", group="dev", job_type="basic_cleaning", config=args)

    A second `init` returns the current run unless `reinit` is "finish_previous" or "create_new".
    Inside a component started by stepline (`STEPLINE_RUN_ID` set), `init` attaches to that run.
    """
    current = _registry.active
    if current is not None:
        if reinit in (None, False, "return_previous", "default"):
            return current
        if reinit in (True, "finish_previous"):
            current.finish()
    settings = _settings.current()  # read once: the run's defaults and the store
    mode = mode or settings.mode
    if mode == "disabled":
        from stepline.tracking.disabled import disabled_run

        run: Run = disabled_run(config)  # a stand-in with Run's methods that records nothing
        return run
    backend = get_backend(settings=settings)  # `dir` only places run files (as W&B)
    cfg = config_from(config)
    if config_include_keys:
        cfg = {k: v for k, v in cfg.items() if k in config_include_keys}
    if config_exclude_keys:
        cfg = {k: v for k, v in cfg.items() if k not in config_exclude_keys}

    make_active = reinit != "create_new" or current is None
    inherited = settings.run_id if reinit != "create_new" else None
    run_id = id or inherited
    if run_id:
        naming.check_run_id(run_id)
        found = _existing(backend, run_id)
        if found is not None:
            if resume == "never":
                raise UsageError(f"run {run_id!r} already exists and resume='never'")
            owner = bool(id) and found.state != "running"
            if owner:
                backend.update_run(
                    run_id,
                    state="running",
                    ended_at=None,
                    exit_code=None,
                    host=writers.hostname(),
                    pid=os.getpid(),
                    heartbeat_at=time.time(),
                )
                found.state = "running"
            if id:  # the caller's own run, resumed: fill in only what it lacks
                _fill_missing(backend, found, group, job_type)
            else:  # a component attaching to its runner's run: what its code passes wins
                _take_explicit(backend, found, project, group, job_type)
                _record_interpreter(backend, found)
            start = backend.last_step(run_id) + 1
            run = Run(backend, found, owner=owner, start_step=start, settings=settings)
            if cfg:
                run.config.update(cfg)
            if tags is not None and owner:
                run.tags = list(tags)
            _registry.add(run, make_active)
            return run
        if resume == "must":
            raise UsageError(f"resume='must' but there is no run {run_id!r}")

    from stepline.tracking.runs import start_run  # the service below this facade

    run = start_run(
        backend,
        project=project,
        group=group,
        job_type=job_type,
        name=name,
        config=cfg,
        tags=tags,
        notes=notes,
        run_id=run_id,
        files_dir=dir,
        settings=settings,
    )
    _registry.add(run, make_active)  # the process hooks, and `stepline.run`
    return run


def _take_explicit(
    backend: Backend,
    found: RunRecord,
    project: str | None,
    group: str | None,
    job_type: str | None,
) -> None:
    """Apply a component's own `init(project=, group=, job_type=)` to its runner's run.

    As in W&B, what code passes to `init` beats the defaults its environment gives (the runner's
    `--project`, `--group`, `--job-type`, or `WANDB_PROJECT` set by a pipeline's main.py). A run
    moved to another project keeps counting there: its automatic name is made again.
    """
    if project and project != found.project:
        naming.check_name(project, "project name")
        renumber = naming.is_auto_name(found.name)
        found.name = backend.move_run(found.id, project, renumber=renumber)
        found.project = project
    fill = {k: v for k, v in (("job_type", job_type), ("group", group)) if v}
    fill = {k: v for k, v in fill.items() if v != getattr(found, k)}
    if fill:
        backend.update_run(found.id, **fill)
        for k, v in fill.items():
            setattr(found, k, v)


def _fill_missing(
    backend: Backend, found: RunRecord, group: str | None, job_type: str | None
) -> None:
    fill = {k: v for k, v in (("job_type", job_type), ("group", group)) if v}
    fill = {k: v for k, v in fill.items() if not getattr(found, k)}
    if fill:
        backend.update_run(found.id, **fill)
        for k, v in fill.items():
            setattr(found, k, v)


def _record_interpreter(backend: Backend, found: RunRecord) -> None:
    """The attaching process is the component: its Python is the run's, whatever ran it."""
    version = sys.version.split()[0]
    if found.python_version != version:
        backend.update_run(found.id, python_version=version)
        found.python_version = version
    if found.info.get("python") != sys.executable:
        found.info = backend.merge_run(found.id, "info", {"python": sys.executable})


def place_run(
    run_id: str,
    project: str | None = None,
    group: str | None = None,
    backend: Backend | None = None,
) -> None:
    """Move a stored run to `project` and `group`, as a component's own `init` would.

    >>> place_run(root_run_id, project="nyc_airbnb", group="development")
    """
    backend = backend or get_backend()
    _take_explicit(backend, backend.get_run(run_id), project, group, None)


def _existing(backend: Backend, run_id: str) -> RunRecord | None:
    from stepline.errors import RunNotFound

    try:
        record = backend.get_run(run_id)
    except RunNotFound:
        return None
    return record if record.id == run_id else None


def finish(exit_code: int | None = None) -> None:
    """Finish the current run, if any."""
    if _registry.active is not None:
        _registry.active.finish(exit_code=exit_code)


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """`run.log` on the current run."""
    if _registry.active is None:
        raise UsageError("stepline.log() needs a run: call stepline.init() first")
    _registry.active.log(data, step=step, commit=commit)
