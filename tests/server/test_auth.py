"""Auth on a team server: login, tokens (bad, expired, revoked, read-only), project isolation.

Users and tokens are made with the real CLI against a running server; requests are real HTTP.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import Server

from stepline.backends.base import RunRecord
from stepline.backends.http import HttpBackend
from stepline.errors import Forbidden, NotFound, ProjectNotFound, RunNotFound, Unauthorized
from stepline.store.manifest import Manifest


def _ok(out: Any) -> str:
    assert out.returncode == 0, out.stderr
    return str(out.stdout)


def _token(out: Any) -> tuple[str, str]:
    line = _ok(out).strip().splitlines()[-1]  # "token ID (shown once): stl_…"
    return line.split()[1], line.rsplit(" ", 1)[1]


@pytest.fixture
def team(servers: Callable[..., Server], tmp_path: Path) -> dict[str, Any]:
    """A server with auth, an admin logged in, and projects A and B each holding a run and a version."""
    srv = servers()
    env = {"STEPLINE_CONFIG_DIR": str(tmp_path / "config")}
    srv.env.update(env)
    _ok(
        srv.cli(
            "users",
            "add",
            "root",
            "--admin",
            "--password-stdin",
            "--database",
            srv.database,
            stdin="s3cret\n",
        )
    )
    _ok(srv.cli("login", srv.url, "--user", "root", "--password-stdin", stdin="s3cret\n"))
    _, admin = _token(srv.cli("tokens", "create", "--role", "admin"))
    a, b = f"a{uuid.uuid4().hex[:5]}", f"b{uuid.uuid4().hex[:5]}"
    client = HttpBackend(srv.url, token=admin, cache=tmp_path / "admin-cache")
    ids = {}
    for project in (a, b):
        rec = client.create_run(
            RunRecord(
                id=f"r{project}",
                project=project,
                name="",
                group=None,
                job_type=None,
                state="running",
                created_at=time.time(),
            )
        )
        data = tmp_path / f"{project}.txt"
        data.write_text(project)
        from stepline.store.ingest import ingest

        entry = ingest(client.objects, [data])[0]
        version, _ = client.commit_version(
            project, "data", "dataset", Manifest({"d.txt": entry}), None, {}, ["prod"], rec.id
        )
        ids[project] = (rec.id, version.id)
    client.close()
    return {"srv": srv, "admin": admin, "a": a, "b": b, "ids": ids, "tmp": tmp_path}


def _api(srv: Server, token: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=srv.url + "/api/v1", headers=headers, timeout=30)


def test_login_keeps_the_token_private(team: dict[str, Any]) -> None:
    path = Path(team["tmp"]) / "config" / "tokens.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert team["srv"].url in path.read_text()
    out = team["srv"].cli(
        "login", team["srv"].url, "--user", "root", "--password-stdin", stdin="wrong\n"
    )
    assert out.returncode == 5  # refused by the server
    assert out.stderr.strip() == "error: wrong user name or password"


def test_bad_expired_and_revoked_tokens_get_401(team: dict[str, Any]) -> None:
    srv: Server = team["srv"]
    _, short = _token(srv.cli("tokens", "create", "--project", team["a"], "--days", "0.00001"))
    tid, revoked = _token(srv.cli("tokens", "create", "--project", team["a"]))
    _ok(srv.cli("tokens", "revoke", tid))
    time.sleep(1.2)
    cases = {
        None: "no token",
        "": "no token",
        "stl_not-a-real-token": "not valid",
        short: "expired",
        revoked: "revoked",
    }
    for token, words in cases.items():
        resp = _api(srv, token).get("/projects")
        assert resp.status_code == 401, (token, resp.text)
        assert resp.json()["error"]["code"] == "unauthorized"
        assert words in resp.json()["error"]["message"]
        # the CLI shows it in one line
        out = srv.cli("runs", "ls", env={"STEPLINE_TOKEN": token or "x"}) if token else None
        if out is not None:
            assert out.returncode == 5  # refused by the server
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines


def test_a_read_token_cannot_write(team: dict[str, Any]) -> None:
    srv: Server = team["srv"]
    _, read = _token(srv.cli("tokens", "create", "--project", team["a"], "--role", "read"))
    client = HttpBackend(srv.url, token=read, cache=Path(team["tmp"]) / "read-cache")
    run_id = team["ids"][team["a"]][0]
    assert client.get_run(run_id).project == team["a"]  # reading works
    with pytest.raises(Forbidden, match="read access to project"):
        client.update_run(run_id, notes="changed")
    with pytest.raises(Forbidden):
        client.set_alias(team["a"], "data", 0, "staging")
    resp = _api(srv, read).post(f"/runs/{run_id}/heartbeat")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    with pytest.raises(Forbidden):  # objects too
        client.objects.put_bytes(b"from a reader")
    # and a reader cannot mint itself a writer
    resp = _api(srv, read).post("/tokens", json={"projects": [team["a"]], "role": "write"})
    assert resp.status_code in (403, 404)


def test_a_token_for_one_project_cannot_see_another(team: dict[str, Any]) -> None:
    srv: Server = team["srv"]
    a, b = team["a"], team["b"]
    _, tok = _token(srv.cli("tokens", "create", "--project", a, "--role", "write"))
    api = _api(srv, tok)
    b_run, b_version = team["ids"][b]
    assert api.get("/projects").json() == [a]
    hidden = api.get("/artifacts", params={"project": b})
    absent = api.get("/artifacts", params={"project": "no-such-project"})
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error"]["message"].replace(b, "X") == absent.json()["error"][
        "message"
    ].replace("no-such-project", "X")
    assert api.get(f"/runs/{b_run}").status_code == 404
    assert api.get(f"/runs/{b_run}/history").status_code == 404
    assert api.get(f"/artifacts/{b}/data/resolve").status_code == 404
    assert api.get(f"/artifacts/{b}/data/versions").status_code == 404
    assert api.get(f"/versions/{b_version}/producers").status_code == 404
    assert api.post("/runs/search", json={"project": b}).json() == []
    assert {r["project"] for r in api.post("/runs/search", json={}).json()} == {a}
    assert {v["project"] for v in api.get("/versions").json()} == {a}
    assert {x["project"] for x in api.get("/artifacts").json()} == {a}
    for body in (
        api.post(
            "/runs",
            json={
                "id": "x1",
                "project": b,
                "name": "",
                "group": None,
                "job_type": None,
                "state": "running",
            },
        ).json(),
        api.put(f"/artifacts/{b}/data/aliases/evil", json={"version": 0}).json(),
    ):
        assert body["error"]["code"] == "project_not_found", body
    # a project that does not exist lists no others (the local message would)
    assert a not in absent.json()["error"]["message"]
    client = HttpBackend(srv.url, token=tok, cache=Path(team["tmp"]) / "a-cache")
    with pytest.raises(RunNotFound):
        client.get_run(b_run)
    with pytest.raises(ProjectNotFound):
        client.list_artifacts(b)
    assert client.get_run(team["ids"][a][0]).project == a


def test_roles_of_a_user_cap_its_tokens(team: dict[str, Any]) -> None:
    srv: Server = team["srv"]
    _ok(
        srv.cli(
            "users",
            "add",
            "ana",
            "--project",
            f"{team['a']}=read",
            "--password-stdin",
            "--database",
            srv.database,
            stdin="pw-ana\n",
        )
    )
    answer = _api(srv, None).post("/login", json={"user": "ana", "password": "pw-ana"}).json()
    assert answer["scope"] == {team["a"]: "read"}
    ana = answer["token"]
    assert _api(srv, ana).get("/projects").json() == [team["a"]]
    resp = _api(srv, ana).post("/tokens", json={"projects": [team["b"]], "role": "read"})
    assert resp.status_code == 404  # B does not exist for ana
    with pytest.raises(Unauthorized):
        HttpBackend(srv.url, token=ana + "x", cache=Path(team["tmp"]) / "x").project_names()


def test_registry_over_http_shows_models_only_to_their_projects(team: dict[str, Any]) -> None:
    from stepline import registry

    srv: Server = team["srv"]
    a, b = team["a"], team["b"]
    tmp = Path(team["tmp"])
    _, wa = _token(srv.cli("tokens", "create", "--project", a, "--role", "write"))
    _, rb = _token(srv.cli("tokens", "create", "--project", b, "--role", "read"))
    writer = HttpBackend(srv.url, token=wa, cache=tmp / "wa")
    model = f"m{uuid.uuid4().hex[:5]}"
    mv = registry.register(f"{a}/data:prod", model, aliases=["champion"], backend=writer)
    assert (mv.version, mv.aliases, mv.artifact_ref) == (1, ["champion"], f"{a}/data:v0")
    assert registry.resolve(f"{model}@champion", backend=writer).project == a
    other = HttpBackend(srv.url, token=rb, cache=tmp / "rb")
    assert model not in [m.name for m in registry.list_models(backend=other)]
    with pytest.raises(NotFound) as hidden:
        registry.show(model, backend=other)
    assert str(hidden.value) == f"no registered model {model!r}; registered: (none yet)"
    with pytest.raises(Forbidden):  # a reader of B cannot register B's version
        registry.register(f"{b}/data:prod", model, backend=other)
    _, wb = _token(srv.cli("tokens", "create", "--project", b, "--role", "write"))
    b_writer = HttpBackend(srv.url, token=wb, cache=tmp / "wb")
    with pytest.raises(NotFound):  # nor can B's writer add it to A's model, which it cannot see
        registry.register(f"{b}/data:prod", model, backend=b_writer)
    b_writer.close()
    writer.close()
    other.close()
