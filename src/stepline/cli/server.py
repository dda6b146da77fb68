"""`stepline server`, `stepline login`, `stepline users …`, `stepline tokens …`: the team server.

    stepline server --database postgresql://postgres@127.0.0.1:5432/stepline \\
                    --objects s3://stepline/objects --host 127.0.0.1 --port 8080
    stepline users add ana --admin --database …        # on the server's database
    stepline login http://127.0.0.1:8080               # asks for the password, stores a token
    stepline tokens create --project nyc --role write  # on the logged-in server (or --database)
"""

from __future__ import annotations

import sys
from typing import Any

import click

from stepline.errors import UsageError
from stepline.settings import current


def _accounts(database: str) -> Any:
    from stepline.errors import require

    require("pwdlib", "server")
    from stepline.metadata.engine import create_engine
    from stepline.server.accounts import Accounts
    from stepline.server.store import database_url

    return Accounts(create_engine(database_url(database)))


def _password(stdin: bool, confirm: bool = True) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=confirm))


def _server_url(url: str | None) -> str:
    url = url or current().tracking_uri
    if not url or not url.startswith(("http://", "https://")):
        raise UsageError("no server: pass --server URL or set STEPLINE_TRACKING_URI=http://…")
    return url.rstrip("/")


@click.group("server", invoke_without_command=True)
@click.option("--database", default=None, help="SQLite file or postgresql://user@host/db URL.")
@click.option("--objects", default=None, help="file:///folder or s3://bucket/prefix.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", "-p", type=int, default=8080, show_default=True, help="0 picks one.")
@click.option("--no-auth", is_flag=True, help="No tokens (loopback addresses only).")
@click.option("--state-dir", default=None, help="Server temp files (default: the cache dir).")
@click.pass_context
def server(
    ctx: click.Context,
    database: str | None,
    objects: str | None,
    host: str,
    port: int,
    no_auth: bool,
    state_dir: str | None,
) -> None:
    """Serve a store to a team: runs, metrics, artifacts and lineage over HTTP, with tokens,
    and the web UI at / (sign in with a user's password or a token).

    Example: stepline server --database db.sqlite --objects file:///srv/stepline --port 8080

    `stepline server gc --database … --objects …` collects the server store's garbage.
    """
    if ctx.invoked_subcommand is not None:
        return
    for given, flag in ((database, "--database"), (objects, "--objects")):
        if not given:
            raise click.UsageError(f"Missing option '{flag}' (the store to serve).")
    assert database is not None and objects is not None
    from pathlib import Path

    from stepline.cli.ui import _loopback
    from stepline.errors import require

    if no_auth and not _loopback(host):
        raise UsageError(
            f"--no-auth serves anyone who can connect; it needs a loopback --host, not {host}"
        )
    for module in ("fastapi", "uvicorn", "pwdlib"):
        require(module, "server")
    import socket

    import uvicorn

    from stepline.server.app import create_app
    from stepline.server.store import open_store

    backend = open_store(database, objects, Path(state_dir) if state_dir else None, current())
    app = create_app(backend, auth=not no_auth)
    from stepline.ui.team import mount

    mount(app, backend, app.state.server.accounts, auth=not no_auth)  # the web UI at /
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(256)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    mode = "no auth" if no_auth else "auth on"
    click.echo(f"stepline server on http://{shown}:{bound}/  ({mode}; Ctrl+C stops it)", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@server.command("gc")
@click.option("--database", required=True, help="The server's --database.")
@click.option("--objects", required=True, help="The server's --objects.")
@click.option("--state-dir", default=None, help="The server's --state-dir.")
@click.option("--keep-last", type=int, default=None, help="Also drop unaliased old versions.")
@click.option(
    "--grace", default="1h", show_default=True, metavar="DURATION", help="Younger objects stay."
)
@click.option("--dry-run", is_flag=True, help="Only count what would go.")
def server_gc(
    database: str,
    objects: str,
    state_dir: str | None,
    keep_last: int | None,
    grace: str,
    dry_run: bool,
) -> None:
    """Delete the server store's objects that nothing refers to (run on the server host).

    Kept: what a committed version, a run's logs or media, or a registered version refers
    to, objects changed within the grace period, and objects under an upload lease.

    Example: stepline server gc --database postgresql://…/stepline --objects s3://stepline/objects
    """
    from pathlib import Path

    from stepline.cli.store import _grace
    from stepline.server.gc import server_gc as collect
    from stepline.server.store import open_store

    if keep_last is not None and keep_last < 1:
        raise UsageError(f"--keep-last {keep_last}: give 1 or more (the newest versions kept)")
    grace_seconds = _grace(grace)
    backend = open_store(database, objects, Path(state_dir) if state_dir else None)
    try:
        r = collect(backend, keep_last, dry_run, grace_seconds)
    finally:
        backend.close()
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {len(r.versions)} version(s), {r.objects} object(s) ({r.bytes:,} bytes);"
        f" kept {r.young_objects} unreferenced object(s) younger than the grace period"
    )


@click.command("login")
@click.argument("url")
@click.option("--user", "-u", default=None, help="User name (asked when missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--token", default=None, help="Store this token instead of logging in.")
def login(url: str, user: str | None, password_stdin: bool, token: str | None) -> None:
    """Log in to a team server and keep its token (0600, in the user's config folder)."""
    from stepline.backends.http import Client, store_token

    url = url.rstrip("/")
    if token is None:
        user = user or str(click.prompt("user"))
        password = _password(password_stdin, confirm=False)
        answer = Client(url, token="").call(
            "POST", "/login", json={"user": user, "password": password}
        )
        token = str(answer["token"])
    me = Client(url, token=token).call("GET", "/whoami")
    path = store_token(url, token)
    scope = ", ".join(f"{p}:{r}" for p, r in sorted(me["scope"].items())) or "no projects"
    click.echo(f"logged in to {url} as {me['user']} ({scope}); token kept in {path}")


@click.group("users")
def users() -> None:
    """Users of a team server (run on the server's database)."""


@users.command("add")
@click.argument("name")
@click.option("--database", required=True, help="The server's --database.")
@click.option("--admin", is_flag=True, help="A server admin: every project, every role.")
@click.option("--project", "grants", multiple=True, help="PROJECT=ROLE (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def users_add(
    name: str, database: str, admin: bool, grants: tuple[str, ...], password_stdin: bool
) -> None:
    """Add a user with a password, optionally granting roles: --project nyc=write."""
    accounts = _accounts(database)
    accounts.add_user(name, _password(password_stdin), admin=admin)
    for grant in grants:
        project, _, role = grant.partition("=")
        accounts.grant(name, project, role or "read")
    click.echo(f"added user {name}{' (admin)' if admin else ''}")


@users.command("grant")
@click.argument("name")
@click.option("--database", required=True, help="The server's --database.")
@click.option("--project", required=True)
@click.option("--role", type=click.Choice(["read", "write", "admin"]), required=True)
def users_grant(name: str, database: str, project: str, role: str) -> None:
    """Give a user a role on one project."""
    _accounts(database).grant(name, project, role)
    click.echo(f"{name}: {role} on {project}")


@click.group("tokens")
def tokens() -> None:
    """API tokens of a team server: for CI jobs and scripts, scoped to projects and a role."""


@tokens.command("create")
@click.option("--project", "projects", multiple=True, help="Project (repeatable; none: all).")
@click.option("--role", type=click.Choice(["read", "write", "admin"]), default="read")
@click.option("--days", type=float, default=None, help="Expires after this many days.")
@click.option("--user", default=None, help="Owner (default: you; with --database: required).")
@click.option("--server", "url", default=None, help="Server URL (default STEPLINE_TRACKING_URI).")
@click.option("--database", default=None, help="Make it on the server's database instead.")
def tokens_create(
    projects: tuple[str, ...],
    role: str,
    days: float | None,
    user: str | None,
    url: str | None,
    database: str | None,
) -> None:
    """Make a token; it is shown once and stored only as a hash."""
    if database:
        if not user:
            raise UsageError("--database needs --user: who the token belongs to")
        scope = {p: role for p in projects} or {"*": role}
        token, tid = _accounts(database).create_token(user, scope, days)
    else:
        from stepline.backends.http import Client

        body = {"projects": list(projects), "role": role, "days": days, "user": user}
        answer = Client(_server_url(url)).call("POST", "/tokens", json=body)
        token, tid = answer["token"], answer["id"]
    click.echo(f"token {tid} (shown once): {token}")


@tokens.command("revoke")
@click.argument("token_id")
@click.option("--server", "url", default=None, help="Server URL (default STEPLINE_TRACKING_URI).")
@click.option("--database", default=None, help="Revoke on the server's database instead.")
def tokens_revoke(token_id: str, url: str | None, database: str | None) -> None:
    """Revoke a token by its id; requests with it get 401 from then on."""
    if database:
        _accounts(database).revoke(token_id)
    else:
        from stepline.backends.http import Client

        Client(_server_url(url)).call("DELETE", f"/tokens/{token_id}")
    click.echo(f"revoked token {token_id}")


@tokens.command("ls")
@click.option("--database", required=True, help="The server's --database.")
def tokens_ls(database: str) -> None:
    """List tokens (ids, owners, scopes, expiry, last use; never the tokens themselves)."""
    import time

    for t in _accounts(database).list_tokens():
        scope = ",".join(f"{p}:{r}" for p, r in sorted(t["scope"].items()))
        used = (
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(t["last_used_at"]))
            if t["last_used_at"]
            else "never"
        )
        state = "revoked" if t["revoked"] else "live"
        click.echo(f"{t['id']}  {t['user']:<12} {scope:<30} {state:<8} last used {used}")


def _local() -> Any:
    """The local store (STEPLINE_DIR or the project's `.stepline/`), whatever the tracking URI."""
    from stepline import _settings
    from stepline.backends.local import LocalBackend

    return LocalBackend(_settings.store_dir())


def _report(what: str, r: Any) -> None:
    click.echo(
        f"{what}: {r.runs_sent} run(s) sent, {r.runs_kept} already there; {r.versions_sent}"
        f" version(s) sent, {r.versions_kept} already there; {r.objects_sent} object(s) uploaded"
    )
    for line in r.conflicts:
        click.echo(f"conflict: {line}", err=True)


@click.command("push")
@click.option("--project", default=None, help="Only this project (default: all).")
@click.option("--to", "url", default=None, help="Server URL (default STEPLINE_TRACKING_URI).")
def push(project: str | None, url: str | None) -> None:
    """Send the local store's runs and versions to a server; what it has is not sent again.

    Example: stepline push --project nyc_airbnb --to http://127.0.0.1:8080
    """
    from stepline.backends.http import HttpBackend
    from stepline.backends.sync import push as do_push

    local, remote = _local(), HttpBackend(_server_url(url))
    try:
        _report("pushed", do_push(local, remote, project))
    finally:
        local.close()
        remote.close()


@click.command("pull")
@click.argument("ref")
@click.option("--from", "url", default=None, help="Server URL (default STEPLINE_TRACKING_URI).")
@click.option(
    "--lineage",
    is_flag=True,
    help="Also fetch everything upstream: the inputs of the run that made it, their runs, and so on.",
)
def pull(ref: str, url: str | None, lineage: bool) -> None:
    """Fetch one artifact version (and the run that made it) from a server into the local store.

    Example: stepline pull nyc_airbnb/random_forest_export:prod --lineage --from http://127.0.0.1:8080
    """
    from stepline.backends.http import HttpBackend
    from stepline.backends.sync import pull as do_pull

    local, remote = _local(), HttpBackend(_server_url(url))
    try:
        version, report = do_pull(remote, local, ref, lineage=lineage)
        _report(f"pulled {version.ref}", report)
    finally:
        local.close()
        remote.close()
