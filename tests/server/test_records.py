"""A user script's init/log/log_artifact/use_artifact/finish against a team server gives the
same records as against a local store: SQLite + file:// objects, and PostgreSQL + S3."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import Server

from stepline.backends.base import Backend, RunQuery
from stepline.backends.http import HttpBackend
from stepline.backends.local import LocalBackend

SCRIPT = """
import sys, pathlib
import stepline

project = sys.argv[1]
data = pathlib.Path("data"); data.mkdir(exist_ok=True)
(data / "train.csv").write_text("x,y\\n" + "".join(f"{i},{i * i}\\n" for i in range(500)))
(data / "notes.txt").write_text("same content on both sides\\n")

run = stepline.init(project=project, name="prep", config={"rows": 500, "seed": 1})
for step in range(300):
    run.log({"loss": 1.0 / (step + 1), "acc": step / 300})
art = stepline.Artifact("clean", type="dataset", description="cleaned", metadata={"rows": 500})
art.add_dir("data")
run.log_artifact(art, aliases=["prod"])
run.summary["best"] = 0.5
run.finish()

train = stepline.init(project=project, name="train", job_type="train")
got = train.use_artifact("clean:prod")
where = pathlib.Path(got.download("downloaded"))
assert (where / "train.csv").read_text() == (data / "train.csv").read_text()
model = stepline.Artifact("model", type="model")
with model.new_file("weights.txt") as f:
    f.write("w=1\\n")
train.log_artifact(model)
train.log({"r2": 0.9})
train.finish()
print("ok")
"""


def run_script(tmp: Path, env: dict[str, str], project: str) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "user.py").write_text(SCRIPT)
    full = {k: v for k, v in os.environ.items() if not k.startswith("STEPLINE_")}
    full.update(env, STEPLINE_CACHE_DIR=str(tmp / "cache"))
    out = subprocess.run(
        [sys.executable, "user.py", project],
        cwd=tmp,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def records(b: Backend, project: str) -> dict[str, Any]:
    """What a user can read back, without ids and times."""
    out: dict[str, Any] = {}
    for r in sorted(b.find_runs(RunQuery(project=project)), key=lambda r: r.name):
        hist = [{k: v for k, v in row.items() if k != "_timestamp"} for row in b.history(r.id)]
        out[r.name] = {
            "state": r.state,
            "job_type": r.job_type,
            "config": r.config,
            "summary": {k: v for k, v in r.summary.items() if not k.startswith("_")},
            "history": hist,
            "outputs": sorted((v.name, v.version, v.digest) for v in b.outputs(r.id)),
            "inputs": sorted((v.name, v.version, v.digest) for v in b.inputs(r.id)),
        }
    arts = {}
    for a in b.list_artifacts(project):
        arts[a.name] = [
            (
                v.version,
                v.type,
                v.digest,
                v.size,
                v.file_count,
                v.description,
                v.metadata,
                v.aliases,
                sorted((p, e.digest, e.size) for p, e in v.manifest.entries.items()),
            )
            for v in b.list_versions(project, a.name)
        ]
    out["artifacts"] = arts
    return out


def _compare(tmp: Path, srv: Server) -> None:
    project = f"p{uuid.uuid4().hex[:6]}"
    run_script(tmp / "local", {"STEPLINE_DIR": str(tmp / "local-store")}, project)
    run_script(tmp / "remote", {"STEPLINE_TRACKING_URI": srv.url, **srv.env}, project)
    local = LocalBackend(tmp / "local-store")
    client = HttpBackend(srv.url, cache=tmp / "reader-cache")
    try:
        mine, theirs = records(local, project), records(client, project)
        assert theirs == mine
        assert len(theirs["prep"]["history"]) == 300
        assert theirs["artifacts"]["clean"][0][7] == ["latest", "prod"]
        # the bytes read back through the server are the ones written
        v = client.resolve(project, "clean", "prod")
        client.materialize(v.manifest, tmp / "check")
        assert (tmp / "check" / "train.csv").read_text().startswith("x,y\n0,0\n")
    finally:
        local.close()
        client.close()


def test_same_records_as_local_on_sqlite_and_files(tmp_path: Path, sqlite_server: Server) -> None:
    _compare(tmp_path, sqlite_server)


def test_same_records_as_local_on_postgres_and_s3(tmp_path: Path, pg_s3_server: Server) -> None:
    _compare(tmp_path, pg_s3_server)


def test_every_error_has_one_json_shape(sqlite_server: Server) -> None:
    import httpx

    base = sqlite_server.url + "/api/v1"
    cases = [
        httpx.get(f"{base}/runs/nosuchrun"),
        httpx.get(f"{base}/artifacts/nope/x/resolve"),
        httpx.post(
            f"{base}/runs", content=b"not json", headers={"content-type": "application/json"}
        ),
        httpx.get(f"{base}/no/such/route"),
        httpx.put(f"{base}/objects/zz", content=b"x"),
    ]
    for resp in cases:
        assert resp.status_code in (400, 404, 422), resp.text
        body = resp.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert cases[0].json()["error"]["code"] == "run_not_found"
    run = {"id": "dup00001", "project": "p", "name": "", "group": None, "job_type": None,
           "state": "running"}  # fmt: skip
    assert httpx.post(f"{base}/runs", json=run).status_code == 200
    again = httpx.post(f"{base}/runs", json=run)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
def test_no_auth_refuses_a_non_loopback_host(tmp_path: Path, host: str) -> None:
    from tests.server.conftest import stepline_cmd

    out = subprocess.run(
        stepline_cmd(
            "server",
            "--database",
            str(tmp_path / "db"),
            "--objects",
            f"file://{tmp_path}",
            "--host",
            host,
            "--no-auth",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "loopback" in out.stderr and len(out.stderr.strip().splitlines()) == 1
