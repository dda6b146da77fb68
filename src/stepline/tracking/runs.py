"""The run service: start a run on a given backend, with no process-wide side effects.

    from stepline.backends import open_backend
    from stepline.settings import current
    from stepline.tracking.runs import start_run

    settings = current()                         # once, at the entry point
    backend = open_backend(settings)             # or the one a server request / Ray task holds
    run = start_run(backend, project="nyc_airbnb", job_type="train", settings=settings)
    run.log({"mae": 0.3})
    run.finish()

`start_run` installs no excepthook, atexit or signal handler and does not become `stepline.run`:
its caller owns the run and finishes it. `stepline.init()` is this plus those process hooks, the
environment's defaults and attaching to a parent's run; it is for user code.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stepline.backends.base import Backend, RunRecord
from stepline.settings import Settings, current
from stepline.store import writers
from stepline.tracking import naming
from stepline.tracking.run import Run, git_commit
from stepline.tracking.values import config_from

__all__ = ["start_run"]


def start_run(
    backend: Backend,
    *,
    project: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    files_dir: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
) -> Run:
    """Create a `running` run on `backend` and return it; the caller finishes it.

    Missing `project`, `group` and `job_type` take the run defaults of `settings` (default:
    this process's, `settings.current()`; `Settings()` has none, so project `uncategorized`).
    `settings` also give the heartbeat's pace and what `run.child_env()` hands a child
    process. `info` is recorded as the run's facts.
    Raises UsageError for a name, label or id that is not valid, and Conflict for an id taken.
    """
    given = settings or current()
    project = naming.check_name(project or given.project or "uncategorized", "project name")
    for label, value in (("name", name), ("group", group), ("job_type", job_type)):
        naming.check_label(value, f"run {label}")
    for tag in tags or ():
        naming.check_label(tag, "tag")
    if run_id:
        naming.check_run_id(run_id)
    record = RunRecord(
        id=run_id or naming.new_run_id(),
        project=project,
        name=name or "",
        group=group or given.group,
        job_type=job_type or given.job_type,
        state="running",
        config=config_from(config),
        tags=list(tags or []),
        notes=notes,
        host=writers.hostname(),
        pid=os.getpid(),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        python_version=sys.version.split()[0],
        created_at=time.time(),
    )
    git = git_commit(Path.cwd())
    if git:
        record.git_commit = git[1]
    backend.create_run(record)
    run = Run(backend, record, owner=True, settings=given)
    run._files_dir = os.fspath(files_dir) if files_dir else None
    if git:
        run._check_dirty(git[0])
    if info:
        run.set_info(**info)
    return run
