"""The web UI as an ASGI app: server-rendered pages, each with a JSON twin.

`create_app(backend)` returns a FastAPI app over one store. Every page is a function returning
the plain dict its template renders; the same URL with `.json` appended (or an
`Accept: application/json` header) returns that dict. htmx requests (`HX-Request`) get the page's
partial instead of the whole page. Errors have one shape: `{ok: false, error, status, code}`.

Mount it in a server with `server_app.mount("/", create_app(backend))`; it reads through stepline's
library only, so the same pages work over any backend that implements the metadata queries. With
`access` (the team server's sign-in, `ui.team`), every request is answered for one person through
a `scope.ScopedBackend` of their projects: another project answers 404 as one that does not exist.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from stepline.backends.base import Backend
from stepline.errors import NotFound, SteplineError, UsageError
from stepline.ui import filters as fmt
from stepline.ui.data import artifacts as adata
from stepline.ui.data import lineage as ldata
from stepline.ui.data import pipelines as pdata
from stepline.ui.data import registry as gdata
from stepline.ui.data import runs as rdata
from stepline.ui.data import series
from stepline.ui.scope import ScopedBackend

HERE = Path(__file__).parent


def status_of(exc: SteplineError) -> int:
    """The HTTP status of a stepline error (its class's, see `stepline.errors`)."""
    return int(exc.http_status)


def _wants_json(request: Request) -> bool:
    if request.scope.get("stepline_json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


class _JsonSuffix:
    """ASGI middleware: `/path.json` is `/path` answered as JSON."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].endswith(".json")
            and not scope["path"].startswith("/static/")
        ):
            scope = dict(scope)
            scope["path"] = scope["path"][: -len(".json")]
            scope["raw_path"] = scope["path"].encode()
            scope["stepline_json"] = True
        await self.app(scope, receive, send)


class _SignIn(Exception):
    """Raised by a page asked for by nobody signed in (the team server's UI)."""


def create_app(backend: Backend, read_only: bool = False, access: Any = None) -> Any:
    """The UI over `backend`. `read_only` refuses POSTs (promoting a registry version).

    `access` (a `team.TeamAccess`) makes it the team server's UI: each request is read through
    a store scoped to the person signed in, POSTs need a CSRF token, `/login` and `/logout` exist.
    """
    from stepline.tracking.api import Api

    plain: Any = backend
    app = FastAPI(title="stepline", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_JsonSuffix)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    fmt.install(templates.env)

    def view(request: Request) -> Any:
        """The store as this request may see it (the whole store for the local UI)."""
        if access is None:
            return plain
        person = access.person(request)
        if person is None:
            raise _SignIn()
        request.state.person = person
        return ScopedBackend(plain, person)

    def check(meta: Any, project: str) -> None:
        if isinstance(meta, ScopedBackend):
            meta.check(project)

    def page(
        request: Request, template: str, data: dict[str, Any], partial: str | None = None
    ) -> Response:
        if _wants_json(request):
            return JSONResponse(json.loads(json.dumps(data, default=str)))
        name = partial if partial and request.headers.get("hx-request") else template
        return templates.TemplateResponse(request, name, _context(request, data))

    @app.exception_handler(_SignIn)
    async def sign_in(request: Request, exc: _SignIn) -> Response:
        body = {"ok": False, "error": "sign in first", "status": 401, "code": "unauthorized"}
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        to = "/login?next=" + quote(target, safe="")
        if _wants_json(request) or request.method != "GET":
            return JSONResponse(body, status_code=401, headers={"www-authenticate": "Bearer"})
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"hx-redirect": to})
        return RedirectResponse(to, status_code=303)

    @app.exception_handler(SteplineError)
    async def stepline_error(request: Request, exc: SteplineError) -> Response:
        status = status_of(exc)
        body = {"ok": False, "error": str(exc), "status": status, "code": exc.code}
        if _wants_json(request):
            return JSONResponse(body, status_code=status)
        return templates.TemplateResponse(
            request, "error.html", _context(request, body), status_code=status
        )

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        body = {
            "ok": False,
            "error": f"no page at {request.url.path}",
            "status": 404,
            "code": "not_found",
        }
        if _wants_json(request):
            return JSONResponse(body, status_code=404)
        return templates.TemplateResponse(
            request, "error.html", _context(request, body), status_code=404
        )

    if access is not None:
        from stepline.ui import signin

        signin.routes(app, access, templates)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        return page(request, "projects.html", rdata.projects(view(request)))

    @app.get("/projects/{project}")
    @app.get("/projects/{project}/runs")
    def runs(
        request: Request,
        project: str,
        filter: str = "",
        sort: str = "-created_at",
        columns: list[str] = Query(default=[]),
        group_by: str = "",
        after: str | None = None,
        limit: int = rdata.PAGE_SIZE,
    ) -> Response:
        cols = [c for part in columns for c in part.split(",") if c]
        meta = view(request)
        check(meta, project)
        data = rdata.runs_table(
            meta, project, filter, sort, cols or None, group_by or None, after, limit
        )
        return page(request, "runs.html", data, partial="_runs_table.html")

    @app.get("/projects/{project}/runs/{run_id}")
    def run(request: Request, project: str, run_id: str) -> Response:
        meta = view(request)
        check(meta, project)
        data = rdata.run_page(meta, Api(meta), f"{project}/{run_id}")
        if data["project"] != project:
            raise NotFound(f"project {project!r} has no run {run_id!r}")
        return page(request, "run.html", data)

    @app.get("/projects/{project}/chart")
    def chart(
        request: Request,
        project: str,
        key: str,
        runs: str,
        points: int = series.MAX_POINTS,
        lo: float | None = None,
        hi: float | None = None,
    ) -> Response:
        ids = [r for r in runs.split(",") if r]
        meta = view(request)
        if isinstance(meta, ScopedBackend):
            meta.check(project)
            for run_id in ids:  # each run of this project, by id
                if meta.get_run(run_id, project).id != run_id:
                    raise NotFound(f"project {project!r} has no run {run_id!r}")
        return JSONResponse(series.chart_data(meta, ids, key, points, lo, hi))

    @app.get("/projects/{project}/compare")
    def compare(
        request: Request, project: str, runs: list[str] = Query(default=[]), all: bool = False
    ) -> Response:
        ids = [r for part in runs for r in part.split(",") if r]
        meta = view(request)
        check(meta, project)
        data = rdata.compare(meta, ids, all_keys=all)
        data["project"] = project
        return page(request, "compare.html", data)

    @app.get("/projects/{project}/artifacts")
    def artifact_list(request: Request, project: str) -> Response:
        meta = view(request)
        check(meta, project)
        return page(request, "artifacts.html", adata.artifacts(meta, project))

    @app.get("/projects/{project}/artifacts/{name}")
    @app.get("/projects/{project}/artifacts/{name}/")
    def artifact(request: Request, project: str, name: str, version: str | None = None) -> Response:
        meta = view(request)
        check(meta, project)
        return page(request, "artifact.html", adata.artifact_page(meta, project, name, version))

    @app.get("/projects/{project}/artifacts/{name}/diff")
    def artifact_diff(
        request: Request, project: str, name: str, old: str = "", new: str = "latest"
    ) -> Response:
        meta = view(request)
        check(meta, project)
        if not old:
            versions = meta.list_versions(project, name)
            newest = meta.resolve(project, name, new).version
            older = [v.version for v in versions if v.version < newest]
            old = f"v{older[-1]}" if older else f"v{newest}"
        return page(request, "diff.html", adata.version_diff(meta, project, name, old, new))

    @app.get("/projects/{project}/artifacts/{name}/download/{version}")
    def artifact_zip(request: Request, project: str, name: str, version: str) -> Response:
        meta = view(request)
        check(meta, project)
        v = meta.resolve(project, name, version)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for path, entry in sorted(v.manifest.entries.items()):
                if entry.ref is None:
                    z.writestr(path, meta.objects.get_bytes(entry.digest))
        filename = f"{name}-v{v.version}.zip"
        return Response(
            buf.getvalue(),
            media_type="application/zip",
            headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
        )

    def _object(meta: Any, digest: str, name: str, mime: str) -> Response:
        """An object's bytes: a checked local file, or streamed from the store (S3)."""
        headers = {"content-disposition": f"inline; filename*=UTF-8''{quote(name)}"}
        objects = meta.objects
        if hasattr(objects, "verify"):
            try:
                path = objects.verify(digest)
            except FileNotFoundError:
                raise NotFound(f"the store has no object {digest[:12]}…") from None
            return FileResponse(path, media_type=mime or _guess(name), headers=headers)
        if not objects.has(digest):
            raise NotFound(f"the store has no object {digest[:12]}…")
        headers["content-length"] = str(objects.size_of(digest))

        def chunks() -> Any:
            with objects.open(digest) as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        return StreamingResponse(chunks(), media_type=mime or _guess(name), headers=headers)

    # Files are reached through what holds them (a version of this project's artifact, a run of
    # this project), never by digest alone: a digest known from elsewhere opens nothing here.
    @app.get("/projects/{project}/artifacts/{name}/files/{version}")
    def artifact_file(
        request: Request, project: str, name: str, version: str, path: str
    ) -> Response:
        meta = view(request)
        check(meta, project)
        v = meta.resolve(project, name, version)
        entry = v.manifest.entries.get(path)
        if entry is None or entry.ref is not None:
            raise NotFound(f"{v.ref} has no stored file {path!r}")
        return _object(meta, entry.digest, path.rsplit("/", 1)[-1], "")

    @app.get("/projects/{project}/runs/{run_id}/media/{digest}")
    def run_media(request: Request, project: str, run_id: str, digest: str) -> Response:
        meta = view(request)
        check(meta, project)
        r = meta.get_run(run_id, project)
        if r.project != project:
            raise NotFound(f"project {project!r} has no run {run_id!r}")
        media = {m["digest"]: m for m in rdata.media(meta, r.id, r.summary)}
        m = media.get(digest)
        if m is None:
            raise NotFound(f"run {project}/{run_id} logged no media {digest[:12]}…")
        image = m["_type"] == "image-file"
        name = f"{m['key']}.png" if image else f"{m['key']}.table.json"
        return _object(meta, digest, name, "image/png" if image else "application/json")

    @app.get("/projects/{project}/lineage")
    def lineage(
        request: Request,
        project: str,
        ref: str,
        depth: int = 2,
        expand: list[str] = Query(default=[]),
        clusters: bool = True,
    ) -> Response:
        meta = view(request)
        check(meta, project)
        data = ldata.neighbourhood(meta, ref, depth, expand, clusters)
        data["project"] = project
        data["ref"] = ref
        return page(request, "lineage.html", data)

    @app.get("/projects/{project}/pipelines")
    def pipelines(request: Request, project: str) -> Response:
        meta = view(request)
        check(meta, project)
        return page(request, "pipelines.html", pdata.executions(meta, project))

    @app.get("/projects/{project}/pipelines/{run_id}")
    def execution(request: Request, project: str, run_id: str) -> Response:
        meta = view(request)
        check(meta, project)
        return page(
            request, "execution.html", pdata.execution(meta, project, run_id), partial="_dag.html"
        )

    @app.get("/registry")
    def registry(request: Request) -> Response:
        return page(request, "registry.html", gdata.models(view(request)))

    @app.get("/registry/{name}")
    def model(request: Request, name: str) -> Response:
        return page(request, "model.html", gdata.model(view(request), name))

    @app.post("/registry/{name}/aliases")
    async def promote(request: Request, name: str) -> Response:
        if read_only:
            raise UsageError("this UI is read-only; promoting needs write access")
        meta = await run_in_threadpool(view, request)
        form = await _form(request)
        if access is not None:
            access.check_post(request, request.state.person, form)
        version, alias = form.get("version", ""), form.get("alias", "").strip()
        if not version.lstrip("v").isdigit() or not alias:
            raise UsageError(
                "promoting takes a form with version=N and alias=NAME (for example prod)"
            )
        data = await run_in_threadpool(gdata.promote, meta, name, int(version.lstrip("v")), alias)
        if _wants_json(request):
            return JSONResponse(data)
        return RedirectResponse(f"/registry/{quote(name)}", status_code=303)

    return app


def _context(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """A template's context: the page's data, and who is signed in (the team server's UI)."""
    person = getattr(request.state, "person", None)
    return {
        "d": data,
        "request": request,
        "who": person.user if person is not None and person.session else None,
        "csrf": person.csrf if person is not None else "",
    }


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded or JSON body as a flat dict (no multipart: nothing here uploads files)."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        data = json.loads(body or b"{}")
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _guess(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"
