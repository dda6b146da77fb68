"""The two ports a pipeline execution talks through, and the facts they exchange.

- `Runner`: prepare and execute one component (the components subsystem's contract,
  `stepline.components.prepare` / `execute`).
- `Tracker`: the few store questions a pipeline asks: resolve an input, list what a run logged,
  find a cached run, record cached and pipeline runs, alias a version.

Adapters over the real core live in `stepline.pipeline.tracking`; the scheduler in
`stepline.pipeline.run` only sees these protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

OutputCallback = Callable[[str, str], None]  # (stream, line)


class PreparedStep(Protocol):
    """A component resolved for one run (see `stepline.components.prepare`)."""

    @property
    def source_dir(self) -> Path: ...
    @property
    def source_digest(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def entry_point(self) -> str: ...
    @property
    def parameters(self) -> Mapping[str, str]: ...
    @property
    def command(self) -> str: ...
    @property
    def recorded_parameters(self) -> Mapping[str, str]: ...
    @property
    def env_manager(self) -> str: ...
    @property
    def env_digest(self) -> str: ...


class StepResult(Protocol):
    """The outcome of executing one step (see `stepline.components.execute`)."""

    @property
    def run_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def stderr_tail(self) -> Sequence[str]: ...
    @property
    def duration(self) -> float: ...


class Runner(Protocol):
    """Prepares and executes components; one `execute` call is one tracked run."""

    def prepare(
        self,
        uri: str,
        entry_point: str = "main",
        parameters: Mapping[str, str] | None = None,
        env_manager: str | None = None,
        version: str | None = None,
        recorded: Mapping[str, str] | None = None,
    ) -> PreparedStep:
        """Resolve the component, validate parameters, render the command; no env build.

        `recorded` maps parameters to the text to record instead of their value (secrets).
        """
        ...

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
        """Build the env, run the command as a tracked run, finish the run."""
        ...


@dataclass(frozen=True)
class Version:
    """One artifact version as a pipeline sees it."""

    name: str
    version: str  # "v3"
    digest: str
    project: str | None = None
    # the pipeline execution whose run produced it (for STEPLINE_SCOPE), when known
    execution: str | None = field(default=None, compare=False)

    @property
    def ref(self) -> str:
        """`project/name:vN` (or `name:vN`)."""
        base = f"{self.project}/{self.name}" if self.project else self.name
        return f"{base}:{self.version}"


@dataclass(frozen=True)
class RunFacts:
    """What the pipeline reads back about a run."""

    id: str
    state: str
    project: str | None = None
    group: str | None = None
    job_type: str | None = None
    name: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


class Tracker(Protocol):
    """The store, as far as the pipeline scheduler needs it."""

    def resolve(self, ref: str, scope: str | None = None) -> Version | None:
        """The version `project/name:alias` names now, or None when there is none; with an
        execution `scope`, `name:latest` is what that execution produced, when it did."""
        ...

    def outputs_of(self, run: RunFacts, names: Sequence[str]) -> dict[str, Version]:
        """The versions of `names` that `run` logged and that still exist in the store."""
        ...

    def run(self, run_id: str) -> RunFacts:
        """Facts about one run."""
        ...

    def runs(self, project: str | None, filters: Mapping[str, Any]) -> list[RunFacts]:
        """Runs matching `filters` (`info.execution`, `state`, `job_type`, ...), newest first."""
        ...

    def find_cached(
        self, project: str | None, key: str, outputs: Sequence[str] | None
    ) -> tuple[RunFacts, dict[str, Version]] | None:
        """The newest finished run with cache key `key` (in `project`, or any) that output a
        version of each name in `outputs` (None: whatever it output), with those versions."""
        ...

    def record_cached(
        self,
        *,
        project: str | None,
        group: str,
        step: str,
        name: str | None,
        info: Mapping[str, Any],
    ) -> str:
        """Create a run of `step` finished with status `cached`; return its id."""
        ...

    def start_execution(
        self,
        *,
        project: str | None,
        group: str,
        name: str,
        config: Mapping[str, Any],
        info: Mapping[str, Any],
    ) -> str:
        """Create the execution's own run (job_type `pipeline`); return its id."""
        ...

    def finish_execution(
        self,
        run_id: str,
        *,
        status: str,
        info: Mapping[str, Any],
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the execution's outcome on its run and finish it."""
        ...

    def alias(self, ref: str, alias: str) -> None:
        """Point `alias` at the version `ref` names."""
        ...
