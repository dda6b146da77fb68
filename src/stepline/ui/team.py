"""The UI as the team server's `/`: sign-in, sessions, CSRF and a per-request scoped store.

    mount(server_app, backend, accounts)               # `stepline server` does this
    mount(server_app, backend, accounts, auth=False)   # `--no-auth` (loopback): no sign-in

A person signs in at `/login` with a user name and password (or an API token); the answer sets
a session cookie (`stepline_session`: 32 random bytes, HttpOnly, SameSite=Lax, Secure over
https) whose SHA-256 alone is kept, in `server_ui_sessions` beside the server's accounts. Every
page then reads through `scope.ScopedBackend` for that person: the projects their user (or the
token they signed in with) may read, nothing else. Scripts may send `Authorization: Bearer
stl_…` instead of a cookie. A POST made with a session cookie carries the session's CSRF token
(`csrf` form field or `X-CSRF-Token` header, derived from the session: nothing more is stored),
and any POST whose Origin is another site is refused. `/logout` ends the session.

`accounts` is the server's `Accounts` (`verify_password`, `user_scope`, `check`,
`check_digest`, `engine`); this module does not import the server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from stepline.errors import AuthError, Forbidden, NotFound, Unauthorized

COOKIE = "stepline_session"
#: a session lasts this long from sign-in (seconds)
SESSION_SECONDS = 7 * 86400

_meta = sa.MetaData()
sessions = sa.Table(
    "server_ui_sessions",
    _meta,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user", sa.String(200), nullable=False),
    # signed in with an API token: its SHA-256, and the session carries that token's scope
    sa.Column("token_hash", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Person:
    """A signed-in user and the role they hold per project (or `*`)."""

    user: str
    admin: bool = False
    scope: dict[str, str] = field(default_factory=dict)
    session: str | None = None  # the raw session id (never stored), for the CSRF token

    def role(self, project: str) -> str | None:
        return self.scope.get(project) or self.scope.get("*")

    @property
    def csrf(self) -> str:
        if self.session is None:
            return ""
        return hmac.new(self.session.encode(), b"stepline-csrf", hashlib.sha256).hexdigest()[:40]


EVERYONE = Person("anonymous", admin=True, scope={"*": "admin"})


class Sessions:
    """UI sessions in the server's database, looked up by the SHA-256 of the cookie."""

    def __init__(self, accounts: Any) -> None:
        self.accounts = accounts
        self.engine: sa.Engine = accounts.engine
        _meta.create_all(self.engine, checkfirst=True)

    def sign_in(self, user: str, password: str = "", token: str = "") -> str:
        """A new session id for a right password (or a live token); Unauthorized otherwise."""
        token_hash = None
        if token:
            who = self.accounts.check(token)  # Unauthorized when revoked, expired or unknown
            user, token_hash = who.user, _sha(token)
        elif not user or not self.accounts.verify_password(user, password):
            raise Unauthorized("wrong user name or password")
        raw = secrets.token_urlsafe(32)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(
                sa.insert(sessions).values(
                    id_hash=_sha(raw),
                    user=user,
                    token_hash=token_hash,
                    created_at=now,
                    expires_at=now + SESSION_SECONDS,
                )
            )
        return raw

    def person(self, raw: str) -> Person | None:
        """Who a session id stands for now (roles read afresh), None when it is not live."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sessions).where(
                    sessions.c.id_hash == _sha(raw), sessions.c.expires_at > time.time()
                )
            ).first()
        if row is None:
            return None
        try:
            if row.token_hash is not None:
                p = self.accounts.check_digest(row.token_hash)
                return Person(p.user, bool(p.admin), dict(p.scope), raw)
            admin, scope = self.accounts.user_scope(row.user)
        except (AuthError, NotFound):
            return None  # the token was revoked or the user removed: signed out
        return Person(row.user, bool(admin), dict(scope), raw)

    def sign_out(self, raw: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.id_hash == _sha(raw)))


class TeamAccess:
    """What the UI asks of the server: who a request is, and whether its POST may proceed."""

    def __init__(self, accounts: Any, auth: bool = True) -> None:
        self.auth = auth
        self.accounts = accounts
        self.sessions = Sessions(accounts) if auth else None

    def person(self, request: Any) -> Person | None:
        """The request's person: bearer token, else session cookie; None when signed out."""
        if self.sessions is None:
            return EVERYONE
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            p = self.accounts.check(header[7:].strip())  # a bad token is a 401, not a sign-in
            return Person(p.user, bool(p.admin), dict(p.scope))
        raw = request.cookies.get(COOKIE)
        return self.sessions.person(raw) if raw else None

    def check_post(self, request: Any, person: Person, form: dict[str, str]) -> None:
        """Forbidden for a cross-site POST, or one made with a session cookie but no CSRF token."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and not same_origin(origin, request):
            raise Forbidden(f"a form from {origin} cannot change this server")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise Forbidden("a form from another site cannot change this server")
        if person.session is None:
            return  # a bearer token (not sent by the browser on its own) or --no-auth
        sent = form.get("csrf") or request.headers.get("x-csrf-token", "")
        if not sent or not hmac.compare_digest(sent, person.csrf):
            raise Forbidden("this form has no valid CSRF token: reload the page and try again")


def same_origin(origin: str, request: Any) -> bool:
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.netloc) and parts.netloc == host


def mount(app: Any, backend: Any, accounts: Any, auth: bool = True) -> Any:
    """Serve the UI at `app`'s `/` (after its own routes), behind `accounts`' sign-in."""
    from stepline.ui import create_app

    ui = create_app(backend, access=TeamAccess(accounts, auth))
    app.mount("/", _NotApi(ui))
    return ui


class _NotApi:
    """Paths under /api/ that the server's routes did not take answer the API's 404, not a page."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            from starlette.responses import JSONResponse

            body = {"error": {"code": "not_found", "message": "Not Found"}}
            await JSONResponse(body, status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)
