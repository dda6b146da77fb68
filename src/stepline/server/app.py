"""The team server's HTTP API: the Backend port over HTTP, with a token check on every call.

    app = create_app(open_store(database, objects), auth=True)
    uvicorn.run(app, host="127.0.0.1", port=8080)

Routes live under `/api/v1` (see `/docs` and `/openapi.json`). Every failure answers
`{"error": {"code": ..., "message": ...}}` with a status taken from the error's class. A project a
token may not read answers 404 exactly as a project that does not exist, so names do not leak.
Objects are content-addressed: clients ask which digests are missing, then upload only those,
straight to S3 through presigned URLs (resumable multipart uploads from 64 MiB, completed after
a size check) or through `PUT /objects/{oid}` (streamed, size and digest checked), and download
them from presigned GET URLs or `GET /objects/{oid}`. A version commits only when every object of
its manifest is in the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Any

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from stepline import errors
from stepline.backends import wire
from stepline.backends.base import ExecutionRecord, RunRecord
from stepline.backends.gc import GRACE_SECONDS
from stepline.backends.local import LocalBackend
from stepline.formats import fastjson
from stepline.server.accounts import NOBODY, Accounts, Principal, check_role
from stepline.server.body import bad, check_fields, int64, need, optional, record
from stepline.server.gc import UploadLeases, server_gc
from stepline.server.objects import check_oid, object_routes
from stepline.store.manifest import Manifest

#: rows per page of `GET /runs/{id}/history`
HISTORY_PAGE = 10_000


def status_of(exc: errors.SteplineError) -> int:
    """The error's HTTP status: its class's (`stepline.errors`), or one a handler set on it."""
    return int(exc.http_status)


def _body(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _hidden(project: str) -> errors.ProjectNotFound:
    return errors.ProjectNotFound(f"no project {project!r}")


class Server:
    """The state behind the routes: the store, the accounts, and a run → project cache."""

    def __init__(self, backend: LocalBackend, auth: bool = True) -> None:
        self.backend = backend
        self.auth = auth
        self.accounts = Accounts(backend.engine)
        self._run_project: dict[str, str] = {}
        self._lock = threading.Lock()

    # who may do what -----------------------------------------------------------------------
    def principal(self, request: Request) -> Principal:
        if not self.auth:
            return NOBODY
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        return self.accounts.check(token)

    def need(self, who: Principal, project: str, role: str) -> None:
        if who.role(project) is None:
            raise _hidden(project)
        if not who.can(project, role):
            raise errors.Forbidden(
                f"this token has {who.role(project)} access to project {project!r}; {role} needed"
            )

    def run_project(self, run_id: str) -> str:
        with self._lock:
            known = self._run_project.get(run_id)
        if known is not None:
            return known
        rec = self.backend.get_run(run_id)
        if rec.id != run_id:
            raise errors.RunNotFound(f"no run with id {run_id!r}")
        with self._lock:
            self._run_project[run_id] = rec.project
        return rec.project

    def need_run(self, who: Principal, run_id: str, role: str) -> str:
        try:
            project = self.run_project(run_id)
        except errors.RunNotFound:
            raise errors.RunNotFound(f"no run with id {run_id!r}") from None
        if who.role(project) is None:
            raise errors.RunNotFound(f"no run with id {run_id!r}")
        self.need(who, project, role)
        return project

    def version_project(self, version_id: int) -> str:
        import sqlalchemy as sa

        if not -(2**63) <= version_id < 2**63:
            raise errors.VersionNotFound(f"no artifact version with id {version_id}")
        from stepline.metadata import schema as t

        with self.backend.engine.connect() as conn:
            name = conn.execute(
                sa.select(t.projects.c.name)
                .join(t.artifacts, t.artifacts.c.project_id == t.projects.c.id)
                .join(t.versions, t.versions.c.artifact_id == t.artifacts.c.id)
                .where(t.versions.c.id == version_id)
            ).scalar_one_or_none()
        if name is None:
            raise errors.VersionNotFound(f"no artifact version with id {version_id}")
        return str(name)

    def need_version(self, who: Principal, version_id: int, role: str) -> None:
        project = self.version_project(version_id)
        if who.role(project) is None:
            raise errors.VersionNotFound(f"no artifact version with id {version_id}")
        self.need(who, project, role)

    def readable(self, who: Principal) -> list[str]:
        names = self.backend.project_names()
        return names if who.everywhere else [p for p in names if who.role(p) is not None]


def create_app(backend: LocalBackend, auth: bool = True) -> FastAPI:
    """The FastAPI app serving `backend`; `auth=False` answers everyone as an admin."""
    srv = Server(backend, auth)
    app = FastAPI(
        title="stepline team server",
        version="1",
        description="Runs, metric history, artifacts and lineage of a stepline store, shared.",
    )
    app.state.server = srv
    b = backend
    uploading = UploadLeases(backend.engine)
    P = wire.PREFIX

    @app.exception_handler(errors.SteplineError)
    async def _stepline_error(_: Request, exc: errors.SteplineError) -> JSONResponse:
        message = str(exc)
        if isinstance(exc, errors.ProjectNotFound):
            message = message.split(";", 1)[0]  # the listing would name other projects
        return _body(exc.code, message, status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _body("usage", f"bad request: {where}: {first.get('msg', 'invalid')}", 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "usage"}.get(exc.status_code, "http")
        return _body(code, str(exc.detail), exc.status_code)

    @app.exception_handler(sa_exc.IntegrityError)
    async def _integrity(_: Request, exc: sa_exc.IntegrityError) -> JSONResponse:
        return _body("conflict", "that record already exists (a run id or name used twice)", 409)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        return _body("internal", f"internal server error: {type(exc).__name__}", 500)

    def who(request: Request) -> Principal:
        return srv.principal(request)

    # -- accounts ---------------------------------------------------------------------------
    @app.post(f"{P}/login", tags=["auth"])
    def login(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Trade a user name and password for a new token carrying that user's roles."""
        user, password = str(body.get("user", "")), str(body.get("password", ""))
        days = optional(body, "days", float)
        if not srv.accounts.verify_password(user, password):
            raise errors.Unauthorized("wrong user name or password")
        _, scope = srv.accounts.user_scope(user)
        token, tid = srv.accounts.create_token(user, scope, float(days) if days else None)
        return {"token": token, "id": tid, "user": user, "scope": scope}

    @app.get(f"{P}/whoami", tags=["auth"])
    def whoami(p: Principal = Depends(who)) -> dict[str, Any]:
        return {"user": p.user, "admin": p.admin, "scope": p.scope, "token": p.token_id}

    @app.post(f"{P}/tokens", tags=["auth"])
    def create_token(
        body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        """A token for `projects` with `role`; the caller needs admin on each (or be a server admin)."""
        role = check_role(str(body.get("role", "read")))
        projects = [str(x) for x in optional(body, "projects", list) or []]
        days = optional(body, "days", float)
        if not projects and not p.admin:
            raise errors.Forbidden("only a server admin can make a token for every project")
        for project in projects:
            if not p.admin:
                srv.need(p, project, "admin")
        user = str(body.get("user") or p.user)
        if user != p.user and not p.admin:
            raise errors.Forbidden("only a server admin can make tokens for another user")
        scope = {q: role for q in projects} or {"*": role}
        token, tid = srv.accounts.create_token(user, scope, float(days) if days else None)
        return {"token": token, "id": tid, "user": user, "scope": scope}

    @app.delete(f"{P}/tokens/{{tid}}", tags=["auth"])
    def revoke_token(tid: str, p: Principal = Depends(who)) -> dict[str, Any]:
        if not p.admin and srv.accounts.token_owner(tid) != p.user:
            raise errors.NotFound(f"no token with id {tid!r}")
        srv.accounts.revoke(tid)
        return {"revoked": tid}

    # -- runs -------------------------------------------------------------------------------
    @app.get(f"{P}/projects", tags=["runs"])
    def projects(p: Principal = Depends(who)) -> list[str]:
        return srv.readable(p)

    @app.post(f"{P}/runs", tags=["runs"])
    def create_run(body: dict[str, Any] = Body(...), p: Principal = Depends(who)) -> dict[str, Any]:
        rec = record(RunRecord, body)
        srv.need(p, rec.project, "write")
        return wire.dump_run(b.create_run(rec))

    @app.patch(f"{P}/runs/{{run_id}}", tags=["runs"])
    def update_run(
        run_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need_run(p, run_id, "write")
        allowed = {f for f in RunRecord.__dataclass_fields__ if f not in ("id", "project")}
        check_fields(RunRecord, body, allowed)
        b.update_run(run_id, **body)
        return {}

    @app.post(f"{P}/runs/{{run_id}}/move", tags=["runs"])
    def move_run(
        run_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need_run(p, run_id, "write")
        project = need(body, "project", str)
        srv.need(p, project, "write")
        name = b.move_run(run_id, project, bool(body.get("renumber", False)))
        with srv._lock:
            srv._run_project.pop(run_id, None)
        return {"name": name}

    @app.post(f"{P}/runs/{{run_id}}/heartbeat", tags=["runs"])
    def heartbeat(run_id: str, p: Principal = Depends(who)) -> dict[str, Any]:
        srv.need_run(p, run_id, "write")
        b.heartbeat(run_id)
        return {}

    @app.post(f"{P}/runs/{{run_id}}/end", tags=["runs"])
    def end_run(
        run_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need_run(p, run_id, "write")
        state = b.end_run(
            run_id,
            optional(body, "state", str),
            optional(body, "exit_code", int),
            optional(body, "ended_at", float),
            optional(body, "info", dict),
        )
        return {"state": state}

    @app.post(f"{P}/runs/{{run_id}}/merge", tags=["runs"])
    def merge_run(
        run_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need_run(p, run_id, "write")
        column = str(body.get("column"))
        if column not in ("config", "summary", "info"):
            raise errors.UsageError(f"cannot merge into {column!r}; config, summary or info")
        return b.merge_run(run_id, column, optional(body, "patch", dict) or {})

    @app.get(f"{P}/runs/{{ref}}", tags=["runs"])
    def get_run(
        ref: str, project: str | None = None, p: Principal = Depends(who)
    ) -> dict[str, Any]:
        if project is not None:
            if p.role(project) is None:
                raise errors.RunNotFound(f"no run with id or name {ref!r} in project {project!r}")
            return wire.dump_run(b.get_run(ref, project))
        try:
            rec = b.get_run(ref)
            if p.role(rec.project) is not None:
                return wire.dump_run(rec)
        except errors.RunNotFound:
            pass
        for name in srv.readable(p):  # a name other projects use too
            with contextlib.suppress(errors.RunNotFound):
                rec = b.get_run(ref, name)
                if rec.project == name:
                    return wire.dump_run(rec)
        raise errors.RunNotFound(f"no run with id or name {ref!r}")

    @app.post(f"{P}/runs/search", tags=["runs"])
    def find_runs(body: dict[str, Any] = Body(...), p: Principal = Depends(who)) -> list[Any]:
        optional(body, "project", str)
        optional(body, "filters", dict)
        if not all(isinstance(o, str) for o in optional(body, "order", list) or []):
            raise bad("order must be a list of field names")
        optional(body, "limit", int)
        q = wire.load_query(body)
        if q.project is not None:
            if p.role(q.project) is None:
                return []
            return [wire.dump_run(r) for r in b.find_runs(q)]
        if p.everywhere:
            return [wire.dump_run(r) for r in b.find_runs(q)]
        out: list[Any] = []
        for name in srv.readable(p):
            q.project = name
            out.extend(wire.dump_run(r) for r in b.find_runs(q))
        return out[: q.limit] if q.limit else out

    # executions and the step cache ------------------------------------------------------------
    def _execution(p: Principal, execution_id: str, role: str) -> Any:
        rec = b.get_execution(execution_id)
        if p.role(rec.project) is None:
            raise errors.NotFound(f"no execution {execution_id!r}")
        srv.need(p, rec.project, role)
        return rec

    @app.post(f"{P}/executions", tags=["executions"])
    def create_execution(
        body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        rec = record(ExecutionRecord, body)
        srv.need(p, rec.project, "write")
        with contextlib.suppress(errors.NotFound):  # an id another project holds stays its own
            _execution(p, rec.id, "write")
        return wire.dump_execution(b.create_execution(rec))

    @app.patch(f"{P}/executions/{{execution_id}}", tags=["executions"])
    def update_execution(
        execution_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        _execution(p, execution_id, "write")
        check_fields(ExecutionRecord, body, {"state", "ended_at", "parameters"})
        b.update_execution(execution_id, **body)
        return {}

    @app.get(f"{P}/executions/{{execution_id}}", tags=["executions"])
    def get_execution(execution_id: str, p: Principal = Depends(who)) -> dict[str, Any]:
        return wire.dump_execution(_execution(p, execution_id, "read"))

    @app.get(f"{P}/executions", tags=["executions"])
    def find_executions(
        project: str | None = None,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        p: Principal = Depends(who),
    ) -> list[Any]:
        if project is not None and p.role(project) is None:
            return []
        found = b.find_executions(project, pipeline, state, None)
        out = [wire.dump_execution(e) for e in found if p.role(e.project) is not None]
        return out[:limit] if limit else out

    @app.get(f"{P}/executions/{{execution_id}}/runs", tags=["executions"])
    def execution_runs(execution_id: str, p: Principal = Depends(who)) -> list[Any]:
        _execution(p, execution_id, "read")
        return [wire.dump_run(r) for r in b.execution_runs(execution_id) if p.role(r.project)]

    @app.post(f"{P}/runs/cached", tags=["executions"])
    def find_cached(body: dict[str, Any] = Body(...), p: Principal = Depends(who)) -> Any:
        project = optional(body, "project", str)
        if project is not None and p.role(project) is None:
            return None
        outputs = optional(body, "outputs", list)
        if outputs is not None and not all(isinstance(o, str) for o in outputs):
            raise bad("outputs must be a list of names")
        hit = b.find_cached(project, need(body, "cache_key", str), outputs)
        if hit is None or p.role(hit[0].project) is None:
            return None
        run, versions = hit
        return {"run": wire.dump_run(run), "versions": _visible(p, versions)}

    @app.post(f"{P}/runs/{{run_id}}/history", tags=["runs"])
    def append_history(
        run_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        """Append chunks: `{"chunks": [[first_step, last_step, data], ...]}` (data: a JSON list)."""
        srv.need_run(p, run_id, "write")
        chunks = optional(body, "chunks", list) or []
        parsed = []
        for chunk in chunks:
            if not isinstance(chunk, list) or len(chunk) != 3 or not isinstance(chunk[2], str):
                raise bad("each chunk is [first_step, last_step, data]")
            try:
                rows = fastjson.loads(chunk[2])  # refuse garbage before it is stored
            except ValueError:
                raise bad("a chunk's data is not JSON") from None
            int64(chunk[0], "first_step"), int64(chunk[1], "last_step")
            parsed.append(rows if isinstance(rows, list) else None)
        for (first, last, data), rows in zip(chunks, parsed, strict=True):
            b.append_history(run_id, first, last, data, rows)  # parsed once, for the previews
        return {"chunks": len(chunks)}

    @app.get(f"{P}/runs/{{run_id}}/history", tags=["runs"])
    def history(
        run_id: str, offset: int = 0, limit: int = HISTORY_PAGE, p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need_run(p, run_id, "read")
        rows = b.history(run_id)
        limit = max(1, min(limit, HISTORY_PAGE))
        page = rows[max(0, offset) : max(0, offset) + limit]
        more = offset + limit < len(rows)
        return {"rows": page, "next": offset + limit if more else None}

    @app.get(f"{P}/runs/{{run_id}}/last_step", tags=["runs"])
    def last_step(run_id: str, p: Principal = Depends(who)) -> dict[str, Any]:
        srv.need_run(p, run_id, "read")
        return {"step": b.last_step(run_id)}

    @app.put(f"{P}/runs/{{run_id}}/logs/{{stream}}", tags=["runs"])
    async def put_log(run_id: str, stream: str, request: Request) -> dict[str, Any]:
        p = await run_in_threadpool(srv.principal, request)
        await run_in_threadpool(srv.need_run, p, run_id, "write")
        data = await request.body()
        await run_in_threadpool(b.put_log, run_id, stream, data)
        return {"size": len(data)}

    @app.get(f"{P}/runs/{{run_id}}/logs/{{stream}}", tags=["runs"])
    def get_log(run_id: str, stream: str, p: Principal = Depends(who)) -> Response:
        srv.need_run(p, run_id, "read")
        data = b.get_log(run_id, stream)
        if data is None:
            raise errors.NotFound(f"run {run_id} has no {stream} log")
        return Response(data, media_type="application/octet-stream")

    @app.post(f"{P}/runs/{{run_id}}/uses", tags=["lineage"])
    def record_use(
        run_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need_run(p, run_id, "write")
        version_id = int64(body.get("version_id"), "version_id")
        srv.need_version(p, version_id, "read")
        b.record_use(run_id, version_id)
        return {}

    @app.post(f"{P}/runs/{{run_id}}/outputs", tags=["lineage"])
    def record_output(
        run_id: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need_run(p, run_id, "write")
        version_id = int64(body.get("version_id"), "version_id")
        srv.need_version(p, version_id, "read")
        b.record_output(run_id, version_id)
        return {}

    def _visible(p: Principal, versions: list[Any]) -> list[Any]:
        return [wire.dump_version(v) for v in versions if p.role(v.project) is not None]

    @app.get(f"{P}/runs/{{run_id}}/outputs", tags=["lineage"])
    def outputs(run_id: str, p: Principal = Depends(who)) -> list[Any]:
        srv.need_run(p, run_id, "read")
        return _visible(p, b.outputs(run_id))

    @app.get(f"{P}/runs/{{run_id}}/inputs", tags=["lineage"])
    def inputs(run_id: str, p: Principal = Depends(who)) -> list[Any]:
        srv.need_run(p, run_id, "read")
        return _visible(p, b.inputs(run_id))

    @app.get(f"{P}/versions/{{version_id}}/producers", tags=["lineage"])
    def producers(version_id: int, p: Principal = Depends(who)) -> list[Any]:
        srv.need_version(p, version_id, "read")
        return [wire.dump_run(r) for r in b.producers(version_id) if p.role(r.project)]

    @app.get(f"{P}/versions/{{version_id}}/consumers", tags=["lineage"])
    def consumers(version_id: int, p: Principal = Depends(who)) -> list[Any]:
        srv.need_version(p, version_id, "read")
        return [wire.dump_run(r) for r in b.consumers(version_id) if p.role(r.project)]

    # -- artifacts --------------------------------------------------------------------------
    @app.post(f"{P}/versions", tags=["artifacts"])
    def commit_version(
        body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        """Commit a version once every stored object of its manifest is present, size checked."""
        project = need(body, "project", str)
        srv.need(p, project, "write")
        run_id = optional(body, "run_id", str)
        if run_id is not None:
            srv.need_run(p, run_id, "write")
        name, kind = need(body, "name", str), need(body, "type", str)
        description = optional(body, "description", str)
        metadata = optional(body, "metadata", dict) or {}
        aliases = optional(body, "aliases", list) or []
        if not all(isinstance(a, str) for a in aliases):
            raise bad("aliases must be a list of names")
        try:
            manifest = Manifest.from_json(need(body, "manifest", str))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise bad(f"not a manifest ({type(exc).__name__})") from None
        for entry in manifest.entries.values():
            if entry.ref is None:
                check_oid(str(entry.digest))
            int64(entry.size, "an entry's size")
        stored = {e.digest: e.size for e in manifest.entries.values() if e.ref is None}
        absent = (
            b.objects.missing(stored)
            if hasattr(b.objects, "missing")
            else {o for o in stored if not b.objects.has(o)}
        )
        if absent:
            raise errors.Conflict(
                f"{len(absent)} object(s) of this version are not on the server (first:"
                f" {sorted(absent)[0]}); upload them, then commit again. Nothing was committed."
            )
        for oid, size in stored.items():
            if b.objects.size_of(oid) != size:
                lying = errors.CorruptObject(
                    f"object {oid} on the server has {b.objects.size_of(oid)} bytes, the"
                    f" manifest says {size}; nothing was committed"
                )
                lying.http_status = 409  # the client's manifest is wrong, not the store
                raise lying
        committed, created = b.commit_version(
            project, name, kind, manifest, description, metadata, aliases, run_id
        )
        return {"version": wire.dump_version(committed), "created": created}

    @app.get(f"{P}/artifacts", tags=["artifacts"])
    def list_artifacts(project: str | None = None, p: Principal = Depends(who)) -> list[Any]:
        if project is not None and p.role(project) is None:
            raise _hidden(project)
        return [wire.dump_artifact(a) for a in b.list_artifacts(project) if p.role(a.project)]

    @app.get(f"{P}/artifacts/{{project}}/{{name}}/versions", tags=["artifacts"])
    def list_versions(project: str, name: str, p: Principal = Depends(who)) -> list[Any]:
        srv.need(p, project, "read")
        return [wire.dump_version(v) for v in b.list_versions(project, name)]

    @app.get(f"{P}/artifacts/{{project}}/{{name}}/resolve", tags=["artifacts"])
    def resolve(
        project: str,
        name: str,
        selector: str = "latest",
        scope: str | None = None,
        p: Principal = Depends(who),
    ) -> dict[str, Any]:
        srv.need(p, project, "read")
        return wire.dump_version(b.resolve(project, name, selector, scope))

    @app.put(f"{P}/artifacts/{{project}}/{{name}}/aliases/{{alias}}", tags=["artifacts"])
    def set_alias(
        project: str,
        name: str,
        alias: str,
        body: dict[str, Any] = Body(...),
        p: Principal = Depends(who),
    ) -> dict[str, Any]:
        srv.need(p, project, "write")
        b.set_alias(project, name, int64(body.get("version"), "version"), alias)
        return {}

    @app.delete(f"{P}/artifacts/{{project}}/{{name}}/aliases/{{alias}}", tags=["artifacts"])
    def remove_alias(
        project: str, name: str, alias: str, p: Principal = Depends(who)
    ) -> dict[str, Any]:
        srv.need(p, project, "write")
        b.remove_alias(project, name, alias)
        return {}

    @app.get(f"{P}/versions", tags=["artifacts"])
    def iter_versions(p: Principal = Depends(who)) -> list[Any]:
        return _visible(p, list(b.iter_versions()))

    @app.delete(f"{P}/versions/{{version_id}}", tags=["artifacts"])
    def delete_version(version_id: int, p: Principal = Depends(who)) -> dict[str, Any]:
        srv.need_version(p, version_id, "admin")
        b.delete_version(version_id)
        return {}

    # -- registry (model names are server-wide: a model shows to those who can read one of
    #    its versions' projects, and changes need write on all of them) ----------------------
    def _visible_model(p: Principal, m: Any) -> bool:
        projects = {v.artifact_ref.split("/", 1)[0] for v in m.versions}
        return p.admin or any(p.role(q) for q in projects)

    def _no_model(p: Principal, model: str) -> errors.NotFound:
        """The local message, listing only the models this token can see."""
        known = [m.name for m in b.list_models() if m.name != model and _visible_model(p, m)]
        return errors.NotFound(
            f"no registered model {model!r}; registered: {', '.join(known) or '(none yet)'}"
        )

    def _model(p: Principal, model: str, role: str = "read") -> Any:
        try:
            m = b.get_model(model)
        except errors.NotFound:
            raise _no_model(p, model) from None
        projects = {v.artifact_ref.split("/", 1)[0] for v in m.versions}
        if not projects and not p.admin and role != "read":
            raise errors.Forbidden(f"only a server admin can change the empty model {model!r}")
        if projects and not any(p.role(q) for q in projects):
            raise _no_model(p, model)
        for q in projects:
            if role != "read":
                srv.need(p, q, role)
        m.versions = [v for v in m.versions if p.role(v.artifact_ref.split("/", 1)[0])]
        return m

    def _dump_model(m: Any) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(m)

    @app.get(f"{P}/models", tags=["registry"])
    def list_models(p: Principal = Depends(who)) -> list[Any]:
        out = []
        for m in b.list_models():
            with contextlib.suppress(errors.NotFound):
                out.append(_dump_model(_model(p, m.name)))
        return out

    @app.get(f"{P}/models/{{model}}", tags=["registry"])
    def get_model(model: str, p: Principal = Depends(who)) -> dict[str, Any]:
        return _dump_model(_model(p, model))

    @app.post(f"{P}/models/{{model}}/versions", tags=["registry"])
    def register_version(
        model: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        version_id = int64(body.get("version_id"), "version_id")
        description, tags = optional(body, "description", str), optional(body, "tags", dict)
        srv.need_version(p, version_id, "write")
        if model in {m.name for m in b.list_models()}:
            _model(p, model, "write")  # an existing model: hidden (404) or needs write on it
        number = b.register_version(model, version_id, description, tags)
        return {"version": number}

    @app.put(f"{P}/models/{{model}}/aliases/{{alias}}", tags=["registry"])
    def set_model_alias(
        model: str, alias: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        _model(p, model, "write")
        b.set_model_alias(model, int64(body.get("version"), "version"), alias)
        return {}

    @app.delete(f"{P}/models/{{model}}/aliases/{{alias}}", tags=["registry"])
    def remove_model_alias(model: str, alias: str, p: Principal = Depends(who)) -> dict[str, Any]:
        _model(p, model, "write")
        b.remove_model_alias(model, alias)
        return {}

    @app.patch(f"{P}/models/{{model}}", tags=["registry"])
    def update_model(
        model: str, body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        description, tags = optional(body, "description", str), optional(body, "tags", dict)
        _model(p, model, "write")
        b.update_model(model, description, tags)
        return {}

    @app.get(f"{P}/registered_version_ids", tags=["registry"])
    def registered_version_ids(p: Principal = Depends(who)) -> list[int]:
        return sorted(
            v.artifact_version_id for m in list_models(p) for v in _model(p, m["name"]).versions
        )

    # -- admin ------------------------------------------------------------------------------
    @app.post(f"{P}/admin/gc", tags=["admin"])
    def admin_gc(body: dict[str, Any] = Body(default={}), p: Principal = Depends(who)) -> Any:
        """Delete the objects nothing refers to (the local gc's rules, upload leases kept);
        a server admin's token only. `{"dry_run": true}` only counts them."""
        if not p.admin:
            raise errors.Forbidden("gc of the server's store needs a server admin's token")
        grace = body.get("grace_seconds", GRACE_SECONDS)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or not grace >= 0:
            raise bad("grace_seconds must be a number of seconds >= 0")
        dry_run = bool(optional(body, "dry_run", bool))
        return dataclasses.asdict(server_gc(b, None, dry_run, float(grace)))

    app.include_router(object_routes(b, srv.principal, who, uploading))
    return app
