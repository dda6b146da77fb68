"""Adapters from the pipeline's ports to the real subsystems.

`ComponentsRunner` delegates to `stepline.components` (prepare/execute); `CoreTracker` asks the
tracking core (`tracking.runs.start_run`, `tracking.api.Api`) on the backend it is given. Both
import lazily so the pure pipeline modules load without them.

    backend = open_backend(settings)          # or a server's, or a Ray worker's
    run_pipeline(spec, runner=ComponentsRunner(backend, settings), tracker=CoreTracker(backend))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stepline.errors import NotFound, UsageError
from stepline.pipeline.ports import OutputCallback, PreparedStep, RunFacts, StepResult, Version

if TYPE_CHECKING:
    from stepline.backends.base import Backend
    from stepline.settings import Settings


class ComponentsRunner:
    """The `Runner` port over `stepline.components.prepare` / `execute`.

    Step runs go to `backend` with the run defaults of `settings`; either left out is taken
    from the settings of the process a step runs in, when it runs. A runner shipped to a Ray
    worker is made without a backend (a backend holds connections and does not pickle).
    """

    def __init__(self, backend: Backend | None = None, settings: Settings | None = None):
        self._backend = backend
        self._settings = settings

    def prepare(
        self,
        uri: str,
        entry_point: str = "main",
        parameters: Mapping[str, str] | None = None,
        env_manager: str | None = None,
        version: str | None = None,
        recorded: Mapping[str, str] | None = None,
    ) -> PreparedStep:
        """See `stepline.components.prepare`."""
        from stepline.components import prepare

        step: PreparedStep = prepare(
            uri,
            entry_point=entry_point,
            parameters=dict(parameters or {}),
            env_manager=env_manager,
            version=version,
            recorded=recorded,
        )
        return step

    def execute(
        self,
        step: PreparedStep,
        *,
        project: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        run_name: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        info: Mapping[str, Any] | None = None,
        on_output: OutputCallback | None = None,
    ) -> StepResult:
        """See `stepline.components.execute`."""
        from stepline.components import execute

        result: StepResult = execute(
            step,  # type: ignore[arg-type]  # the components runner's own PreparedStep
            project=project,
            group=group,
            job_type=job_type,
            run_name=run_name,
            extra_env=dict(extra_env or {}),
            info=dict(info or {}),
            on_output=on_output,
            backend=self._backend,
            settings=self._settings,
        )
        return result


def _version(art: Any, project: str | None = None) -> Version:
    return Version(
        name=str(art.name).split(":")[0].split("/")[-1],
        version=str(art.version),
        digest=str(art.digest),
        project=getattr(art, "project", None) or project,
    )


def _facts(view: Any) -> RunFacts:
    def get(name: str, default: Any = None) -> Any:
        return getattr(view, name, default)

    return RunFacts(
        id=str(view.id),
        state=str(get("state", "")),
        project=get("project"),
        group=get("group"),
        job_type=get("job_type"),
        name=get("name"),
        info=dict(get("info") or {}),
        summary=dict(get("summary") or {}),
        config=dict(get("config") or {}),
    )


class CoreTracker:
    """The `Tracker` port over the tracking core, on `backend` (default: this process's store).

    `settings` give the runs it starts their defaults (default: this process's, read then).
    """

    def __init__(self, backend: Backend | None = None, settings: Settings | None = None):
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._backend = backend
        self._settings = settings

    def _store(self) -> Backend:
        if self._backend is None:
            from stepline.backends import open_backend
            from stepline.settings import current

            self._settings = self._settings or current()
            self._backend = open_backend(self._settings)
        return self._backend

    def _api(self) -> Any:
        from stepline.tracking.api import Api

        return Api(self._store())

    def _start(self, **fields: Any) -> Any:
        from stepline.tracking.runs import start_run

        return start_run(self._store(), settings=self._settings, **fields)

    def resolve(self, ref: str, scope: str | None = None) -> Version | None:
        """The version `ref` names now, or None; `name:latest` is the one execution `scope`
        produced or took from the cache, when it did (the store's execution-scoped latest)."""
        try:
            art = self._api().artifact(ref, scope=scope)
        except NotFound:
            return None
        project = ref.split("/")[0] if "/" in ref else None
        producer = art.logged_by()
        execution = (getattr(producer, "info", None) or {}).get("execution") if producer else None
        return replace(_version(art, project), execution=execution)

    @staticmethod
    def _outputs(
        versions: Any, names: Sequence[str] | None, project: str | None, execution: str | None
    ) -> dict[str, Version]:
        out: dict[str, Version] = {}
        for v in versions:  # oldest first: a later version of the same name wins
            if names is None or v.name in names:
                out[v.name] = Version(
                    name=v.name,
                    version=f"v{v.version}",
                    digest=v.digest,
                    project=v.project or project,
                    execution=execution,
                )
        return out

    def outputs_of(self, run: RunFacts, names: Sequence[str]) -> dict[str, Version]:
        """Versions of `names` that `run` output (its output edges) and that still exist."""
        if not names:
            return {}
        versions = self._store().outputs(run.id)
        return self._outputs(versions, names, run.project, run.info.get("execution"))

    def find_cached(
        self, project: str | None, key: str, outputs: Sequence[str] | None
    ) -> tuple[RunFacts, dict[str, Version]] | None:
        """The newest finished run with cache key `key` that output every name in `outputs`
        (any run with the key when None), and those versions; None when there is none."""
        hit = self._store().find_cached(project, key, outputs)
        if hit is None:
            return None
        run, versions = hit
        return _facts(run), self._outputs(versions, outputs, run.project, run.execution_id)

    def run(self, run_id: str) -> RunFacts:
        """Facts about one run."""
        return _facts(self._api().run(run_id))

    def runs(self, project: str | None, filters: Mapping[str, Any]) -> list[RunFacts]:
        """Runs matching `filters`, newest first."""
        views = self._api().runs(project=project, filters=dict(filters), order="-created_at")
        return [_facts(v) for v in views]

    def record_cached(
        self,
        *,
        project: str | None,
        group: str,
        step: str,
        name: str | None,
        info: Mapping[str, Any],
    ) -> str:
        """A run of `step` with status `cached` (info.cached_from names the original)."""
        run = self._start(project=project, group=group, job_type=step, name=name)
        run.set_info(**info)
        run.mark_cached(str(info["cached_from"]))  # links the original's outputs to this run
        return str(run.id)

    def start_execution(
        self,
        *,
        project: str | None,
        group: str,
        name: str,
        config: Mapping[str, Any],
        info: Mapping[str, Any],
    ) -> str:
        """The execution's run: job_type `pipeline`, config = the resolved pipeline config."""
        run = self._start(
            project=project, group=group, job_type="pipeline", name=name, config=dict(config)
        )
        run.set_info(**info)
        execution = info.get("execution")
        if execution:
            from stepline.backends.base import ExecutionRecord

            self._store().create_execution(
                ExecutionRecord(
                    id=str(execution),
                    project=str(run.project),
                    pipeline=str(info.get("pipeline") or name),
                    group=group,
                    parameters=dict(config),
                )
            )
        with self._lock:
            self._open[str(run.id)] = run
        return str(run.id)

    def finish_execution(
        self,
        run_id: str,
        *,
        status: str,
        info: Mapping[str, Any],
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the execution record and finish its run."""
        with self._lock:
            run = self._open.pop(run_id)
        run.set_info(**info)
        for k, v in (summary or {}).items():
            run.summary[k] = v
        run.finish(exit_code=0 if status == "finished" else 1)
        execution = info.get("execution")
        if execution:
            state = str(info.get("status") or status)
            self._store().update_execution(str(execution), state=state, ended_at=time.time())

    def join_execution(
        self, execution: str, run_id: str, *, pipeline: str, parameters: Mapping[str, Any]
    ) -> None:
        """Record execution `execution`, in the project and group of its run `run_id`, unless
        it is already (a course root's `mlflow.run` calls each join it; the first creates it)."""
        from stepline.backends.base import ExecutionRecord

        backend = self._store()
        run = backend.get_run(run_id)
        backend.create_execution(
            ExecutionRecord(
                id=execution,
                project=run.project,
                pipeline=pipeline,
                group=run.group,
                started_at=run.created_at,
                parameters=dict(parameters),
            )
        )

    def end_execution(self, execution: str, state: str) -> None:
        """Set a recorded execution's final state and end time (no-op for an unknown one)."""
        from stepline.errors import NotFound as Missing

        try:
            self._store().update_execution(execution, state=state, ended_at=time.time())
        except Missing:
            pass

    def alias(self, ref: str, alias: str) -> None:
        """Point `alias` at the version `ref` names (moving it from any other version)."""
        from stepline.tracking.naming import check_alias

        api = self._api()
        art = api.artifact(ref, scope=None)
        if alias == "latest":
            raise UsageError("'latest' moves by itself to the newest version; pick another alias")
        api.backend.set_alias(art.project, art.name, int(art.version[1:]), check_alias(alias))
