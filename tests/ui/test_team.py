"""The web UI as the team server's `/`: sign-in, project isolation, promoting with write + CSRF.

A real `stepline server` subprocess (SQLite + file:// objects, and once on SeaweedFS S3), users
and tokens made with the real CLI, data logged through stepline over HTTP, requests from httpx
and from Debian's Chromium.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.server.conftest import Server, seaweed, start_server, stop
from tests.ui.conftest import Page

__all__ = ["seaweed"]  # the S3 fixture, for the S3 test below

ANA_PW = "ana-s3cret"


@dataclass
class Team:
    srv: Server
    a: str
    b: str
    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    read_token: str = ""


def _ok(out: Any) -> str:
    assert out.returncode == 0, out.stderr
    return str(out.stdout)


def _token(out: Any) -> str:
    return _ok(out).strip().splitlines()[-1].rsplit(" ", 1)[1]  # "token ID (shown once): stl_…"


def _log_project(
    monkeypatch: pytest.MonkeyPatch, srv: Server, token: str, project: str, tmp: Path
) -> dict[str, str]:
    """A run with a metric and an image, a dataset version with a file, a registered model."""
    import stepline
    from stepline import backends, registry

    monkeypatch.setenv("STEPLINE_TRACKING_URI", srv.url)
    monkeypatch.setenv("STEPLINE_TOKEN", token)
    monkeypatch.setenv("STEPLINE_DIR", str(tmp / f"client-{project}"))
    for key, value in srv.env.items():
        monkeypatch.setenv(key, value)
    backends.reset()
    try:
        run = stepline.init(project=project, job_type="train", reinit="create_new")
        for step in range(50):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        pixels = np.full((8, 8, 3), 200 if project.startswith("a") else 30, dtype="uint8")
        run.log({"sample": stepline.Image(pixels)})
        notes = tmp / f"{project}-notes.txt"
        notes.write_text(f"the notes of {project}\n")
        art = stepline.Artifact("data", type="dataset")
        art.add_file(str(notes), name="notes.txt")
        run.log_artifact(art)
        run.finish()
        registry.register(f"{project}/data:v0", f"model-{project}")
        digest = next(
            v["digest"]
            for v in backends.get_backend().get_run(run.id).summary.values()
            if isinstance(v, dict) and v.get("_type") == "image-file"
        )
        return {"run": run.id, "image": digest, "model": f"model-{project}"}
    finally:
        backends.reset()


def _make_team(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, objects: str | None = None, env: Any = None
) -> Iterator[Team]:
    database = str(tmp / "server.sqlite")
    srv = start_server(tmp, database, objects or f"file://{tmp / 'objects'}", env or {})
    try:
        monkeypatch.setenv("STEPLINE_CONFIG_DIR", str(tmp / "config"))
        srv.env["STEPLINE_CONFIG_DIR"] = str(tmp / "config")
        a, b = f"a{uuid.uuid4().hex[:6]}", f"b{uuid.uuid4().hex[:6]}"
        db = ("--database", database)
        _ok(srv.cli("users", "add", "root", "--admin", "--password-stdin", *db, stdin="root-pw\n"))
        _ok(srv.cli("users", "add", "ana", f"--project={a}=write", "--password-stdin", *db,
                    stdin=f"{ANA_PW}\n"))  # fmt: skip
        admin = _token(srv.cli("tokens", "create", "--role", "admin", "--user", "root", *db))
        read = _token(
            srv.cli("tokens", "create", "--project", a, "--role", "read", "--user", "ana", *db)
        )
        team = Team(srv, a, b, read_token=read)
        for project in (a, b):
            team.ids[project] = _log_project(monkeypatch, srv, admin, project, tmp)
        yield team
    finally:
        stop(srv.proc)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    tmp = tmp_path_factory.mktemp("team-ui")
    with pytest.MonkeyPatch.context() as mp:
        yield from _make_team(tmp, mp)


@contextlib.contextmanager
def sign_in(
    url: str, user: str = "ana", password: str = ANA_PW, **extra: str
) -> Iterator[httpx.Client]:
    """An httpx client holding a UI session (as a browser would, cookie and all)."""
    with httpx.Client(base_url=url, timeout=30) as c:
        form = {"user": user, "password": password, **extra}
        r = c.post("/login", data=form)
        assert r.status_code == 303, r.text
        assert "stepline_session" in c.cookies
        yield c


def _json(c: httpx.Client, path: str) -> httpx.Response:
    return c.get(path, headers={"accept": "application/json"})


def test_signing_in_shows_only_readable_projects_and_logout_ends_the_session(
    browser: Any, team: Team
) -> None:
    p = Page(browser, team.srv.url)
    try:
        page = p.goto(f"/projects/{team.a}")
        assert "/login" in page.url  # signed out: the form, and back here after
        page.fill("input[name=user]", "ana")
        page.fill("input[name=password]", "not her password")
        page.click("button[type=submit]")
        assert "wrong user name or password" in page.inner_text(".login-card")
        assert not p.context.cookies()
        page.fill("input[name=user]", "ana")
        page.fill("input[name=password]", ANA_PW)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.url.endswith(f"/projects/{team.a}")
        (cookie,) = p.context.cookies()
        assert cookie["name"] == "stepline_session"
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        page = p.goto("/")
        text = page.inner_text("main")
        assert team.a in text and team.b not in text
        assert "ana" in page.inner_text(".topbar")
        raw = cookie["value"]
        page.click("form.logout button")
        page.wait_for_load_state("networkidle")
        assert "/login" in page.url
        assert "/login" in p.goto("/").url
        # the old cookie opens nothing any more: the session is gone on the server
        replay = httpx.get(team.srv.url + "/.json", cookies={"stepline_session": raw}, timeout=30)
        assert replay.status_code == 401
        # the 401 of the wrong password is the only console error expected
        assert all("401" in e for e in p.errors), p.errors
    finally:
        p.context.close()


def test_wrong_password_and_unknown_users_are_refused(team: Team) -> None:
    with httpx.Client(base_url=team.srv.url, timeout=30) as c:
        for user, password in (("ana", "nope"), ("nobody", ANA_PW), ("ana", "")):
            r = c.post("/login", data={"user": user, "password": password})
            assert r.status_code == 401 and "wrong user name or password" in r.text
            assert "stepline_session" not in c.cookies
        assert c.post("/login", data={"token": "stl_forged"}).status_code == 401
        # nobody signed in: pages send to the form, JSON twins answer 401
        r = c.get(f"/projects/{team.a}")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        assert _json(c, f"/projects/{team.a}").status_code == 401
        assert c.get(f"/projects/{team.a}.json").status_code == 401
        # the API keeps its own answers under /api/
        assert c.get("/api/v1/nothing-here").json()["error"]["code"] == "not_found"


def _b_urls(team: Team) -> list[str]:
    b, ids = team.b, team.ids[team.b]
    run = ids["run"]
    return [
        f"/projects/{b}",
        f"/projects/{b}/runs/{run}",
        f"/projects/{b}/artifacts",
        f"/projects/{b}/artifacts/data",
        f"/projects/{b}/artifacts/data/files/v0?path=notes.txt",
        f"/projects/{b}/artifacts/data/download/v0",
        f"/projects/{b}/runs/{run}/media/{ids['image']}",
        f"/projects/{b}/chart?key=loss&runs={run}",
        f"/projects/{b}/lineage?ref={run}",
        f"/projects/{b}/pipelines",
    ]


def test_another_project_answers_404_as_if_it_did_not_exist(team: Team) -> None:
    a, b = team.a, team.b
    ghost = "z" + b[1:]
    with sign_in(team.srv.url) as c:
        home = _json(c, "/").json()
        assert [p["name"] for p in home["projects"]] == [a]
        for url in _b_urls(team):
            for twin in (False, True):
                got = _json(c, url) if twin else c.get(url)
                assert got.status_code == 404, (url, got.status_code)
                assert b"notes of" not in got.content and b"PNG" not in got.content
                # byte for byte the answer for a project that does not exist, names aside
                same = _json(c, url.replace(b, ghost)) if twin else c.get(url.replace(b, ghost))
                assert got.text.replace(b, ghost) == same.text, url
        # a .json twin of B's run page, and B's run reached from A's pages
        run_b = team.ids[b]["run"]
        assert c.get(f"/projects/{b}/runs/{run_b}.json").status_code == 404
        assert c.get(f"/projects/{a}/runs/{run_b}.json").status_code == 404
        assert c.get(f"/projects/{a}/chart?key=loss&runs={run_b}").status_code == 404
        assert c.get(f"/projects/{a}/lineage.json?ref={run_b}").status_code == 404
        assert c.get(f"/projects/{a}/lineage.json?ref=r:{run_b}").status_code == 404
        # the registry lists A's model only; B's answers as a model never registered
        models = [m["name"] for m in _json(c, "/registry").json()["models"]]
        assert models == [team.ids[a]["model"]]
        model_b = team.ids[b]["model"]
        hidden = _json(c, f"/registry/{model_b}")
        never = _json(c, f"/registry/{model_b}x").json()
        assert hidden.status_code == 404
        assert hidden.json()["error"] == never["error"].replace(f"{model_b}x", model_b)
        # A's own pages, files and media work, through the server's object store
        assert c.get(f"/projects/{a}/artifacts/data/files/v0?path=notes.txt").text == (
            f"the notes of {a}\n"
        )
        media = c.get(f"/projects/{a}/runs/{team.ids[a]['run']}/media/{team.ids[a]['image']}")
        assert media.status_code == 200 and media.content.startswith(b"\x89PNG")
        chart = c.get(f"/projects/{a}/chart?key=loss&runs={team.ids[a]['run']}").json()
        assert chart["series"][0]["total"] == 50
        lineage = _json(c, f"/projects/{a}/lineage?ref={team.ids[a]['run']}").json()
        assert {n["kind"] for n in lineage["nodes"]} == {"run", "artifact"}


def _promote(c: httpx.Client, model: str, csrf: str | None, **headers: str) -> httpx.Response:
    form = {"version": "1", "alias": "prod"}
    if csrf is not None:
        form["csrf"] = csrf
    return c.post(f"/registry/{model}/aliases", data=form, headers=headers)


def _csrf(c: httpx.Client, model: str) -> str:
    page = c.get(f"/registry/{model}").text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "the model page has no CSRF field"
    return found.group(1)


def test_promoting_needs_write_access_and_a_csrf_token(team: Team) -> None:
    model = team.ids[team.a]["model"]
    with sign_in(team.srv.url) as c:
        csrf = _csrf(c, model)
        assert _promote(c, model, None).status_code == 403  # no token in the form
        assert _promote(c, model, "0" * 40).status_code == 403  # a wrong one
        evil = _promote(c, model, csrf, origin="http://evil.example")
        assert evil.status_code == 403  # the right token, from another site
        before = _json(c, f"/registry/{model}").json()["versions"][0]["aliases"]
        assert "prod" not in before
        done = _promote(c, model, csrf, origin=team.srv.url)
        assert done.status_code == 303, done.text
        after = _json(c, f"/registry/{model}").json()["versions"][0]["aliases"]
        assert "prod" in after
        # ana cannot promote B's model: it does not exist for her
        other = _promote(c, team.ids[team.b]["model"], csrf)
        assert other.status_code == 404
    # a read token, as a bearer or signed in with, sees the model and cannot promote it
    bearer = {"authorization": f"Bearer {team.read_token}"}
    with httpx.Client(base_url=team.srv.url, timeout=30, headers=bearer) as c:
        assert _json(c, f"/registry/{model}").status_code == 200
        refused = _promote(c, model, None, accept="application/json")
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    with sign_in(team.srv.url, user="", password="", token=team.read_token) as c:
        assert [p["name"] for p in _json(c, "/").json()["projects"]] == [team.a]
        refused = _promote(c, model, _csrf(c, model), accept="application/json")
        assert refused.status_code == 403 and "write" in refused.json()["error"]


def test_logout_needs_the_csrf_token_and_ends_the_session(team: Team) -> None:
    with sign_in(team.srv.url) as c:
        page = c.get("/").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf
        assert c.post("/logout", data={}).status_code == 403  # a forged logout does nothing
        assert _json(c, "/").status_code == 200
        assert c.post("/logout", data={"csrf": csrf.group(1)}).status_code == 303
        assert _json(c, "/").status_code == 401


def test_files_and_media_come_from_an_s3_object_store(
    tmp_path: Path, seaweed: dict[str, str]
) -> None:
    prefix = uuid.uuid4().hex[:8]
    with pytest.MonkeyPatch.context() as mp:
        for made in _make_team(tmp_path, mp, f"s3://stepline/{prefix}", seaweed):
            a = made.a
            with sign_in(made.srv.url) as c:
                notes = c.get(f"/projects/{a}/artifacts/data/files/v0?path=notes.txt")
                assert notes.status_code == 200 and notes.text == f"the notes of {a}\n"
                ids = made.ids[a]
                media = c.get(f"/projects/{a}/runs/{ids['run']}/media/{ids['image']}")
                assert media.status_code == 200 and media.content.startswith(b"\x89PNG")
                zipped = c.get(f"/projects/{a}/artifacts/data/download/v0")
                assert zipped.status_code == 200 and zipped.content.startswith(b"PK")
                b = made.b
                hidden = c.get(f"/projects/{b}/artifacts/data/files/v0?path=notes.txt")
                assert hidden.status_code == 404


def test_no_auth_on_loopback_serves_the_ui_without_signing_in(tmp_path: Path) -> None:
    srv = start_server(tmp_path, str(tmp_path / "db.sqlite"), f"file://{tmp_path}/o", {}, False)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            r = c.get("/")
            assert r.status_code == 200 and "Projects" in r.text
            assert c.get("/login").headers["location"] == "/"
            assert _json(c, "/").json() == {"projects": []}
            # a cross-site form still cannot change anything
            cross = c.post(
                "/registry/m/aliases",
                data={"version": "1", "alias": "prod"},
                headers={"origin": "http://evil.example"},
            )
            assert cross.status_code == 403
    finally:
        stop(srv.proc)
