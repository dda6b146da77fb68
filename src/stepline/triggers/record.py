"""Handled trigger events, kept in the store as runs of job type `trigger`.

Each event a watch acts on becomes one run (in the pipeline's project) before the pipeline
starts, so a second look at the same event, in this process or after a restart, finds it and
does not run the pipeline again. The run's info holds the event and, when it is done, the
decision (candidate, prod, metrics, promoted or not and why); the triggering artifact version
or drift report is its input in lineage. A first look at a trigger stores an `armed` record: the
versions and schedule ticks that existed before it never fire.

    records = Records(project="nyc_airbnb", pipeline="rental_prices")
    records.find("new_sample")                    # newest first
    run = records.start(event, group="rental_prices-ab12cd34")
    records.finish(run, {"promoted": True, "reason": "..."}, ok=True)
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepline.errors import Conflict

JOB_TYPE = "trigger"


class Records:
    """The `trigger` runs of one pipeline."""

    def __init__(self, project: str | None, pipeline: str) -> None:
        self.project = project
        self.pipeline = pipeline

    def find(self, trigger: str, event: str | None = None) -> list[dict[str, Any]]:
        """The info of this trigger's records (newest first), only `event`'s when given."""
        from stepline.tracking.api import Api

        filters: dict[str, Any] = {
            "job_type": JOB_TYPE,
            "info.trigger_pipeline": self.pipeline,
            "info.trigger": trigger,
        }
        if event is not None:
            filters["info.trigger_event"] = event
        runs = Api().runs(self.project, filters=filters, order="-created_at")
        infos = [{**(r.info or {}), "run_id": str(r.id)} for r in runs]
        # an interrupted event was not handled: it runs again
        return [i for i in infos if not (i.get("decision") or {}).get("interrupted")]

    def start(
        self,
        trigger: str,
        event: str,
        detail: Mapping[str, Any],
        *,
        group: str | None = None,
        edge: str | None = None,
    ) -> Any:
        """A running record of `event`; `edge` (an artifact reference) becomes its input."""
        from stepline.tracking.run import init

        run = init(
            project=self.project,
            group=group,
            job_type=JOB_TYPE,
            name=f"{self.pipeline}:{trigger}",
            reinit="create_new",
        )
        run.set_info(
            trigger_pipeline=self.pipeline,
            trigger=trigger,
            trigger_event=event,
            **{f"trigger_{k}": v for k, v in detail.items()},
        )
        if edge is not None:
            run.use_artifact(edge)
        return run

    def finish(self, run: Any, decision: Mapping[str, Any], ok: bool) -> None:
        """Write the decision into the record and close it."""
        run.set_info(decision=dict(decision))
        for key in ("candidate_metric", "prod_metric", "improvement"):
            value = decision.get(key)
            if isinstance(value, int | float):
                run.summary[key] = value
        run.summary["promoted"] = int(bool(decision.get("promoted")))
        run.finish(exit_code=0 if ok else 1)


@contextmanager
def single_flight(pipeline_key: str) -> Iterator[None]:
    """Hold the store-wide lock of one pipeline's triggered executions, or raise `Conflict`."""
    from stepline._settings import store_dir

    folder = store_dir() / "triggers"
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in pipeline_key)
    path: Path = folder / f"{safe}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(
                f"pipeline {pipeline_key!r} is already running for a trigger (lock {path})"
            ) from exc
        yield
    finally:
        os.close(fd)
