"""The store as one person sees it: a per-request view of a backend, scoped to their projects.

    view = ScopedBackend(backend, who)     # who.role(project) -> "read" | "write" | "admin" | None
    view.check("nyc")                      # ProjectNotFound unless `who` may read nyc
    view.get_run(run_id)                   # RunNotFound for a run of a project `who` cannot read

The team server builds one per request from the signed-in person's roles; the UI's pages read
through it, so a project they may not read answers 404 exactly as a project that does not exist
(its runs, versions, models, files and lineage nodes included). Reads the pages make straight in
SQL (run tables, history) go through `engine` only after the page checked its project or run.
Writes the UI makes (a registry alias) need write on every project the model's versions live in.
"""

from __future__ import annotations

from typing import Any, Protocol

from stepline.errors import Forbidden, NotFound, ProjectNotFound, RunNotFound

RANK = {"read": 0, "write": 1, "admin": 2}


class Viewer(Protocol):
    """Who is asking: a name and a role per project (None where they have none)."""

    user: str

    def role(self, project: str) -> str | None: ...


#: what the pages read from the backend unchanged (the rest is checked below, or not offered)
_PASS = frozenset({"engine", "url", "objects", "runs", "db", "_project_id", "get_log"})


class ScopedBackend:
    """`backend` restricted to the projects `who` may read (writes: see `set_model_alias`)."""

    def __init__(self, backend: Any, who: Viewer) -> None:
        self._backend = backend
        self.who = who

    def __getattr__(self, name: str) -> Any:
        if name in _PASS:
            return getattr(self._backend, name)
        raise AttributeError(f"the UI's scoped view of the store offers no {name!r}")

    # who may see what ------------------------------------------------------------------------
    def can_read(self, project: str) -> bool:
        return self.who.role(project) is not None

    def can(self, project: str, need: str) -> bool:
        have = self.who.role(project)
        return have is not None and RANK[have] >= RANK[need]

    def check(self, project: str, need: str = "read") -> None:
        """ProjectNotFound (as for a project that does not exist) or Forbidden."""
        if not self.can_read(project):
            raise ProjectNotFound(f"no project {project!r}")
        if not self.can(project, need):
            raise Forbidden(
                f"{self.who.user} has {self.who.role(project)} access to project {project!r};"
                f" {need} needed"
            )

    # runs ------------------------------------------------------------------------------------
    def project_names(self) -> list[str]:
        return [p for p in self._backend.project_names() if self.can_read(p)]

    def get_run(self, ref: str, project: str | None = None) -> Any:
        if project is not None and not self.can_read(project):
            raise ProjectNotFound(f"no project {project!r}")
        try:
            rec = self._backend.get_run(ref, project)
        except RunNotFound:
            rec = None
        if rec is None or not self.can_read(rec.project):
            where = f" in project {project!r}" if project else ""
            raise RunNotFound(f"no run with id or name {ref!r}{where}")
        return rec

    def find_runs(self, query: Any) -> list[Any]:
        if query.project is not None and not self.can_read(query.project):
            return []
        return [r for r in self._backend.find_runs(query) if self.can_read(r.project)]

    # artifacts and lineage -------------------------------------------------------------------
    def list_artifacts(self, project: str | None = None) -> list[Any]:
        if project is not None:
            self.check(project)
        return [a for a in self._backend.list_artifacts(project) if self.can_read(a.project)]

    def list_versions(self, project: str, name: str) -> list[Any]:
        self.check(project)
        return list(self._backend.list_versions(project, name))

    def resolve(self, project: str, name: str, selector: str = "latest", scope: Any = None) -> Any:
        self.check(project)
        return self._backend.resolve(project, name, selector, scope)

    def inputs(self, run_id: str) -> list[Any]:
        return [v for v in self._backend.inputs(run_id) if self.can_read(v.project)]

    def outputs(self, run_id: str) -> list[Any]:
        return [v for v in self._backend.outputs(run_id) if self.can_read(v.project)]

    def producers(self, version_id: int) -> list[Any]:
        return [r for r in self._backend.producers(version_id) if self.can_read(r.project)]

    def consumers(self, version_id: int) -> list[Any]:
        return [r for r in self._backend.consumers(version_id) if self.can_read(r.project)]

    # the registry (model names are store-wide: a model shows to those who can read one of its
    # versions' projects, with only those versions) -------------------------------------------
    @staticmethod
    def _projects(model: Any) -> set[str]:
        return {v.artifact_ref.split("/", 1)[0] for v in model.versions}

    def _visible(self, model: Any) -> bool:
        projects = self._projects(model)
        return any(self.can_read(p) for p in projects) or (not projects and self.can("*", "read"))

    def list_models(self) -> list[Any]:
        out = []
        for m in self._backend.list_models():
            if self._visible(m):
                m.versions = [v for v in m.versions if self.can_read(v.artifact_ref.split("/")[0])]
                out.append(m)
        return out

    def get_model(self, name: str) -> Any:
        try:
            m = self._backend.get_model(name)
        except NotFound:
            m = None
        if m is None or not self._visible(m):
            known = [x.name for x in self.list_models() if x.name != name]
            raise NotFound(
                f"no registered model {name!r}; registered: {', '.join(known) or '(none yet)'}"
            )
        m.versions = [v for v in m.versions if self.can_read(v.artifact_ref.split("/")[0])]
        return m

    def set_model_alias(self, name: str, version: int, alias: str) -> None:
        self.get_model(name)  # not found, as for a model never registered, unless visible
        for project in sorted(self._projects(self._backend.get_model(name))) or ["*"]:
            if self.can(project, "write"):
                continue
            if self.can_read(project):
                raise Forbidden(
                    f"{self.who.user} has {self.who.role(project)} access to project"
                    f" {project!r}; promoting a version of {name!r} needs write"
                )
            raise Forbidden(  # names no project this person cannot read
                f"promoting a version of {name!r} needs write on every project its versions"
                " come from"
            )
        self._backend.set_model_alias(name, version, alias)
