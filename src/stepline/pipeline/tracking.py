"""Adapters from the pipeline's ports to the real subsystems.

`ComponentsRunner` delegates to `stepline.components` (prepare/execute); `CoreTracker` asks the
tracking core through `stepline.init` and `stepline.Api`. Both import lazily so the pure
pipeline modules load without them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from stepline.errors import NotFound, UsageError
from stepline.pipeline.ports import OutputCallback, PreparedStep, RunFacts, StepResult, Version


class ComponentsRunner:
    """The `Runner` port over `stepline.components.prepare` / `execute`."""

    def prepare(
        self,
        uri: str,
        entry_point: str = "main",
        parameters: Mapping[str, str] | None = None,
        env_manager: str | None = None,
        version: str | None = None,
    ) -> PreparedStep:
        """See `stepline.components.prepare`."""
        from stepline.components import prepare

        step: PreparedStep = prepare(
            uri,
            entry_point=entry_point,
            parameters=dict(parameters or {}),
            env_manager=env_manager,
            version=version,
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
    """The `Tracker` port over the tracking core (`stepline.init`, `stepline.Api`)."""

    def __init__(self) -> None:
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _api(self) -> Any:
        import stepline

        return stepline.Api()  # type: ignore[attr-defined]

    def resolve(self, ref: str) -> Version | None:
        """The version `ref` names now (outside any execution scope), or None."""
        try:
            art = self._api().artifact(ref, scope=None)
        except NotFound:
            return None
        project = ref.split("/")[0] if "/" in ref else None
        producer = art.logged_by()
        execution = (getattr(producer, "info", None) or {}).get("execution") if producer else None
        return replace(_version(art, project), execution=execution)

    def outputs_of(self, run: RunFacts, names: Sequence[str]) -> dict[str, Version]:
        """Versions of `names` logged by `run` that still exist."""
        if not names:
            return {}
        api = self._api()
        view = api.run(run.id)
        logged: Callable[[], Any] | None = getattr(view, "logged_artifacts", None)
        out: dict[str, Version] = {}
        if callable(logged):
            execution = (getattr(view, "info", None) or {}).get("execution")
            for art in logged():
                v = _version(art, run.project or getattr(view, "project", None))
                v = replace(v, execution=execution)
                if v.name in names:
                    out[v.name] = v  # later versions of the same name win
            return out
        # Fallback: the newest version of each name in the run's execution scope, if it is
        # the run's own.
        facts = _facts(view)
        execution = facts.info.get("execution") or run.info.get("execution")
        project = run.project or facts.project
        for name in names:
            ref = f"{project}/{name}:latest" if project else f"{name}:latest"
            try:
                art = api.artifact(ref, scope=str(execution) if execution else None)
            except NotFound:
                continue
            producer = art.logged_by()
            if producer is not None and str(producer.id) == run.id:
                out[name] = _version(art, project)
        return out

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
        import stepline

        run = stepline.init(  # type: ignore[attr-defined]
            project=project, group=group, job_type=step, name=name, reinit="create_new"
        )
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
        import stepline

        run = stepline.init(  # type: ignore[attr-defined]
            project=project,
            group=group,
            job_type="pipeline",
            name=name,
            config=dict(config),
            reinit="create_new",
        )
        run.set_info(**info)
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

    def alias(self, ref: str, alias: str) -> None:
        """Point `alias` at the version `ref` names (moving it from any other version)."""
        from stepline.tracking.naming import check_alias

        api = self._api()
        art = api.artifact(ref, scope=None)
        if alias == "latest":
            raise UsageError("'latest' moves by itself to the newest version; pick another alias")
        api.backend.set_alias(art.project, art.name, int(art.version[1:]), check_alias(alias))
