"""`stepline push` / `stepline pull` against a team server: idempotent (a second push sends and
creates nothing), keyed by run ids and content digests, conflicts on aliases reported, not merged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.server.conftest import Server, stepline_cmd

from stepline.backends.base import RunQuery
from stepline.backends.http import HttpBackend

SCRIPT = """
import stepline, pathlib
for i in range(3):
    run = stepline.init(project="team", config={"i": i})
    for step in range(20):
        run.log({"loss": 1.0 / (step + 1 + i)})
    p = pathlib.Path(f"data{i % 2}.txt"); p.write_text(f"content {i % 2}\\n" * 100)
    art = stepline.Artifact("data", type="dataset")
    art.add_file(str(p), name="data.txt")
    run.log_artifact(art, aliases=["prod"] if i == 0 else [])
    run.attach_log("stdout", f"run {i} said hello\\n".encode())
    run.finish()
user = stepline.init(project="team", job_type="eval")
user.use_artifact("data:prod")
user.finish()
"""


def _cli(srv: Server, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLINE_")}
    env.update(STEPLINE_DIR=str(cwd / ".stepline"), STEPLINE_CACHE_DIR=str(cwd / "cache"))
    return subprocess.run(stepline_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_push_twice_then_pull(tmp_path: Path, sqlite_server: Server) -> None:
    srv = sqlite_server
    work = tmp_path / "laptop"
    work.mkdir()
    (work / "make.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLINE_")}
    env.update(STEPLINE_DIR=str(work / ".stepline"), STEPLINE_CACHE_DIR=str(work / "cache"))
    out = subprocess.run([sys.executable, "make.py"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr

    first = _cli(srv, work, "push", "--project", "team", "--to", srv.url)
    assert first.returncode == 0, first.stderr
    assert "4 run(s) sent, 0 already there; 2 version(s) sent" in first.stdout
    second = _cli(srv, work, "push", "--project", "team", "--to", srv.url)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == (
        "pushed: 0 run(s) sent, 4 already there; 0 version(s) sent, 2 already there;"
        " 0 object(s) uploaded"
    )

    server = HttpBackend(srv.url, cache=tmp_path / "reader")
    runs = server.find_runs(RunQuery(project="team"))
    assert len(runs) == 4
    first_run = min(runs, key=lambda r: r.created_at)
    assert len(server.history(first_run.id)) == 20
    assert server.get_log(first_run.id, "stdout") == b"run 0 said hello\n"
    prod = server.resolve("team", "data", "prod")
    assert prod.version == 0 and [r.id for r in server.producers(prod.id)]
    assert [r.job_type for r in server.consumers(prod.id)] == ["eval"]

    # another laptop made its own `prod`: pushing reports the conflict and moves nothing
    other = tmp_path / "other"
    other.mkdir()
    (other / "make.py").write_text(SCRIPT.replace("content", "other content"))
    env["STEPLINE_DIR"] = str(other / ".stepline")
    env["STEPLINE_CACHE_DIR"] = str(other / "cache")
    out = subprocess.run([sys.executable, "make.py"], cwd=other, env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    clash = _cli(srv, other, "push", "--to", srv.url)
    assert clash.returncode == 0, clash.stderr
    assert "alias 'prod' is on v0 there" in clash.stderr
    assert server.resolve("team", "data", "prod").version == 0
    assert {v.version for v in server.list_versions("team", "data")} == {0, 1, 2, 3}

    # pull into an empty store
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    pulled = _cli(srv, fresh, "pull", "team/data:prod", "--from", srv.url)
    assert pulled.returncode == 0, pulled.stderr
    assert "1 run(s) sent" in pulled.stdout and "1 version(s) sent" in pulled.stdout
    again = _cli(srv, fresh, "pull", "team/data:prod", "--from", srv.url)
    assert "0 run(s) sent" in again.stdout and "0 version(s) sent" in again.stdout
    from stepline.backends.local import LocalBackend

    local = LocalBackend(fresh / ".stepline")
    v = local.resolve("team", "data", "prod")
    assert v.digest == prod.digest
    local.materialize(v.manifest, fresh / "out")
    assert (fresh / "out" / "data.txt").read_text().startswith("content 0")
    local.close()
    server.close()


CHAIN = """
import stepline, pathlib
def step(job, used, name, text, aliases=()):
    run = stepline.init(project="chain", job_type=job)
    if used:
        run.use_artifact(used)
    p = pathlib.Path(name); p.write_text(text * 50)
    art = stepline.Artifact(name, type="data")
    art.add_file(str(p))
    run.log_artifact(art, aliases=list(aliases))
    run.finish()
step("download", None, "raw.csv", "a,b\\n")
step("clean", "raw.csv:latest", "clean.csv", "a\\n")
step("train", "clean.csv:latest", "model.pkl", "model\\n", aliases=["prod"])
other = stepline.init(project="chain", job_type="eval")
other.use_artifact("model.pkl:prod")
other.finish()
"""


def test_pull_with_lineage_brings_everything_upstream(
    tmp_path: Path, sqlite_server: Server
) -> None:
    srv = sqlite_server
    work = tmp_path / "laptop"
    work.mkdir()
    (work / "make.py").write_text(CHAIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLINE_")}
    env.update(STEPLINE_DIR=str(work / ".stepline"), STEPLINE_CACHE_DIR=str(work / "cache"))
    out = subprocess.run([sys.executable, "make.py"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert _cli(srv, work, "push", "--project", "chain", "--to", srv.url).returncode == 0

    from stepline.backends.local import LocalBackend

    only = tmp_path / "only"
    only.mkdir()
    plain = _cli(srv, only, "pull", "chain/model.pkl:prod", "--from", srv.url)
    assert plain.returncode == 0, plain.stderr
    assert "1 run(s) sent" in plain.stdout and "1 version(s) sent" in plain.stdout

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    pulled = _cli(srv, fresh, "pull", "chain/model.pkl:prod", "--lineage", "--from", srv.url)
    assert pulled.returncode == 0, pulled.stderr
    # three producing runs and three versions; the eval run is downstream and stays behind
    assert "3 run(s) sent" in pulled.stdout and "3 version(s) sent" in pulled.stdout
    again = _cli(srv, fresh, "pull", "chain/model.pkl:prod", "--lineage", "--from", srv.url)
    assert again.returncode == 0, again.stderr
    assert "0 run(s) sent" in again.stdout and "0 version(s) sent" in again.stdout

    local = LocalBackend(fresh / ".stepline")
    try:
        model = local.resolve("chain", "model.pkl", "prod")
        (train,) = [r for r in local.producers(model.id) if r.job_type == "train"]
        (clean,) = local.inputs(train.id)
        assert clean.name == "clean.csv"
        (cleaner,) = [r for r in local.producers(clean.id) if r.job_type == "clean"]
        (raw,) = local.inputs(cleaner.id)
        assert raw.name == "raw.csv" and raw.run_id is not None
        assert local.inputs(raw.run_id) == []
        local.materialize(raw.manifest, fresh / "out")  # objects came too, not only records
        assert (fresh / "out" / "raw.csv").read_text().startswith("a,b\n")
        assert {r.job_type for r in local.find_runs(RunQuery(project="chain"))} == {
            "download", "clean", "train"
        }  # fmt: skip
    finally:
        local.close()
    fsck = _cli(srv, fresh, "fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
