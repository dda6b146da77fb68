"""Users, per-project roles and API tokens of a team server, in the server's own database.

    accounts = Accounts(engine)
    accounts.add_user("ana", "pw", admin=False); accounts.grant("ana", "nyc", "write")
    token, tid = accounts.create_token("ana", {"nyc": "write"}, days=30)   # shown once
    principal = accounts.check(token)                                      # Unauthorized if bad

Passwords are argon2 hashes (pwdlib); tokens are `stl_` + 32 random bytes, stored as SHA-256
(argon2 on every request would be slow, and a token has the entropy a password lacks). A token's
scope maps project names (or `*`) to a role: read < write < admin. Its owner's roles cap it,
except for server admins. Tables live beside stepline's own (`server_*`), created on first use.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from stepline.errors import Conflict, NotFound, Unauthorized, UsageError

ROLES = ("read", "write", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}

meta = sa.MetaData()
users = sa.Table(
    "server_users",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
roles = sa.Table(
    "server_roles",
    meta,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("server_users.id"), primary_key=True),
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(10), nullable=False),
)
tokens = sa.Table(
    "server_tokens",
    meta,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("server_users.id"), nullable=False, index=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scope", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("last_used_at", sa.Float, nullable=True),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

#: last-use times are written at most this often per token (seconds)
LAST_USE_EVERY = 60.0


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in RANK:
        raise UsageError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


@dataclass
class Principal:
    """Who is asking: a user and, per project (or `*`), the role this request carries."""

    user: str
    admin: bool
    scope: dict[str, str] = field(default_factory=dict)
    token_id: str | None = None

    def role(self, project: str) -> str | None:
        return self.scope.get(project) or self.scope.get("*")

    def can(self, project: str, need: str) -> bool:
        have = self.role(project)
        return have is not None and RANK[have] >= RANK[need]

    @property
    def everywhere(self) -> bool:
        return "*" in self.scope


#: the principal of a `--no-auth` server
NOBODY = Principal("anonymous", admin=True, scope={"*": "admin"})


class Accounts:
    """Users, roles and tokens over one SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        meta.create_all(engine, checkfirst=True)
        self._used: dict[str, float] = {}
        from pwdlib import PasswordHash

        self.hasher = PasswordHash.recommended()

    # users ---------------------------------------------------------------------------------
    def add_user(self, name: str, password: str | None, admin: bool = False) -> None:
        if not name or len(name) > 200:
            raise UsageError("a user name is 1 to 200 characters")
        hashed = self.hasher.hash(password) if password else None
        with self.engine.begin() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.name == name)).first():
                raise Conflict(f"user {name!r} already exists")
            conn.execute(
                sa.insert(users).values(
                    name=name, password_hash=hashed, is_admin=admin, created_at=time.time()
                )
            )

    def _user(self, conn: sa.Connection, name: str) -> Any:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFound(f"no user {name!r}")
        return row

    def grant(self, user: str, project: str, role: str) -> None:
        check_role(role)
        with self.engine.begin() as conn:
            uid = self._user(conn, user).id
            conn.execute(sa.delete(roles).where(roles.c.user_id == uid, roles.c.project == project))
            conn.execute(sa.insert(roles).values(user_id=uid, project=project, role=role))

    def user_scope(self, user: str) -> tuple[bool, dict[str, str]]:
        with self.engine.connect() as conn:
            row = self._user(conn, user)
            if row.is_admin:
                return True, {"*": "admin"}
            rows = conn.execute(sa.select(roles).where(roles.c.user_id == row.id)).all()
            return False, {r.project: r.role for r in rows}

    def verify_password(self, name: str, password: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None or not row.password_hash:
            self.hasher.hash(password)  # the same time as a wrong password: no user probing
            return False
        return bool(self.hasher.verify(password, row.password_hash))

    # tokens --------------------------------------------------------------------------------
    def create_token(
        self, user: str, scope: dict[str, str], days: float | None = None
    ) -> tuple[str, str]:
        """(token, id) for `user`, its roles capped by the user's own; the token is shown once."""
        for role in scope.values():
            check_role(role)
        admin, own = self.user_scope(user)
        if not admin:
            for project, role in scope.items():
                have = own.get(project)
                if have is None or RANK[have] < RANK[role]:
                    raise UsageError(
                        f"user {user!r} has {have or 'no'} role on project {project!r};"
                        f" a token cannot carry {role}"
                    )
        token = "stl_" + secrets.token_urlsafe(32)
        tid = secrets.token_hex(6)
        now = time.time()
        with self.engine.begin() as conn:
            uid = self._user(conn, user).id
            conn.execute(
                sa.insert(tokens).values(
                    id=tid,
                    user_id=uid,
                    hash=_sha(token),
                    scope=scope,
                    created_at=now,
                    expires_at=now + days * 86400 if days else None,
                )
            )
        return token, tid

    def revoke(self, tid: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(
                sa.update(tokens)
                .where(tokens.c.id == tid, tokens.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            ).rowcount
        if not gone:
            raise NotFound(f"no live token with id {tid!r}")

    def list_tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(tokens, users.c.name).join(users, users.c.id == tokens.c.user_id)
        if user is not None:
            q = q.where(users.c.name == user)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(tokens.c.created_at)).all()
        return [
            {
                "id": r.id,
                "user": r.name,
                "scope": r.scope,
                "created_at": r.created_at,
                "expires_at": r.expires_at,
                "last_used_at": r.last_used_at,
                "revoked": r.revoked_at is not None,
            }
            for r in rows
        ]

    def token_owner(self, tid: str) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(users.c.name)
                .join(tokens, tokens.c.user_id == users.c.id)
                .where(tokens.c.id == tid)
            ).first()
        if row is None:
            raise NotFound(f"no token with id {tid!r}")
        return str(row[0])

    def check(self, token: str | None) -> Principal:
        """The principal a bearer token stands for; `Unauthorized` (one line) otherwise."""
        if not token:
            raise Unauthorized("no token: run 'stepline login URL' or set STEPLINE_TOKEN")
        return self.check_digest(_sha(token))

    def check_digest(self, digest: str) -> Principal:
        """`check` for a token known by its SHA-256 only (a UI session signed in with one)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens, users.c.name, users.c.is_admin)
                .join(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.hash == digest)
            ).first()
        now = time.time()
        if row is None:
            raise Unauthorized("the token is not valid for this server: run 'stepline login URL'")
        if row.revoked_at is not None:
            raise Unauthorized(f"token {row.id} was revoked: run 'stepline login URL'")
        if row.expires_at is not None and row.expires_at < now:
            raise Unauthorized(f"token {row.id} expired: run 'stepline login URL'")
        if now - self._used.get(row.id, 0.0) > LAST_USE_EVERY:
            self._used[row.id] = now
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(tokens).where(tokens.c.id == row.id).values(last_used_at=now)
                )
        scope = dict(row.scope)
        if not row.is_admin:  # roles taken away since the token was made no longer apply
            _, own = self.user_scope(row.name)
            scope = {p: min(r, own[p], key=RANK.__getitem__) for p, r in scope.items() if p in own}
        # server-admin powers need an admin user AND a token made for them, not a narrower one
        admin = bool(row.is_admin) and scope.get("*") == "admin"
        return Principal(row.name, admin, scope, row.id)
