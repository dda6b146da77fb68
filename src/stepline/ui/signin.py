"""`/login` and `/logout` of the team server's UI (sessions and CSRF: `team`).

GET  /login?next=/projects/nyc      the form: user name and password, or an API token
POST /login                         sets the session cookie, then 303 to `next`
POST /logout                        (with the CSRF token) ends the session
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stepline.errors import AuthError
from stepline.ui import team


def _next(target: str) -> str:
    """Where to go after signing in: a path on this server only (no //host, no scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def routes(app: FastAPI, access: team.TeamAccess, templates: Any) -> None:
    def form_page(
        request: Request, next_: str, error: str | None = None, status: int = 200
    ) -> Response:
        data = {"next": _next(next_), "error": error}
        ctx = {"d": data, "request": request, "who": None, "csrf": ""}
        return templates.TemplateResponse(request, "login.html", ctx, status_code=status)

    @app.get("/login")
    def login_form(request: Request, next: str = "/") -> Response:
        if access.sessions is None:
            return RedirectResponse(_next(next), status_code=303)
        return form_page(request, next)

    @app.post("/login")
    async def login(request: Request) -> Response:
        from stepline.ui.app import _form, _wants_json

        form = await _form(request)
        target = _next(form.get("next", "/"))
        if access.sessions is None:
            return RedirectResponse(target, status_code=303)
        try:
            access.check_post(request, team.EVERYONE, form)  # Origin only: no session yet
            raw = await run_in_threadpool(
                access.sessions.sign_in,
                form.get("user", "").strip(),
                form.get("password", ""),
                form.get("token", "").strip(),
            )
        except AuthError as exc:
            if _wants_json(request):
                body = {"ok": False, "error": str(exc), "status": exc.http_status}
                return JSONResponse({**body, "code": exc.code}, status_code=exc.http_status)
            return form_page(request, target, str(exc), exc.http_status)
        answer: Response = RedirectResponse(target, status_code=303)
        if _wants_json(request):
            answer = JSONResponse({"ok": True, "next": target})
        answer.set_cookie(
            team.COOKIE,
            raw,
            max_age=team.SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return answer

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        from stepline.ui.app import _form

        form = await _form(request)
        raw = request.cookies.get(team.COOKIE)
        if access.sessions is not None and raw:
            person = await run_in_threadpool(access.sessions.person, raw)
            if person is not None:
                access.check_post(request, person, form)
                await run_in_threadpool(access.sessions.sign_out, raw)
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(team.COOKIE, path="/", httponly=True, samesite="lax")
        return answer
