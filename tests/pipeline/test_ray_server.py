"""Steps on Ray read and write their data through a team server, not the driver's store.

A real `stepline server` (a subprocess, SQLite + file objects, auth on) and the two-node
cluster, each node with its own cache and config folder, as two machines would have. The
driver knows the server from `STEPLINE_TRACKING_URI` and its token from `stepline login`'s
file, which the nodes do not have: the tasks must get both from the driver.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.server.conftest import Server, start_server, stop

import stepline
from stepline import backends
from stepline.backends.http import store_token
from stepline.pipeline.run import run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.pipeline.tracking import ComponentsRunner, CoreTracker

from .raycluster import ClusterUnavailable, two_node_cluster

pytestmark = pytest.mark.ray

MAKE = """\
import pathlib, tempfile, stepline
run = stepline.init()
f = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
f.write_text("41")
art = stepline.Artifact("a.txt", type="data")
art.add_file(str(f))
run.log_artifact(art)
"""

# reads make's a.txt, then waits until its sibling runs too: with one CPU per node, the two
# readers then run on different nodes, so at least one reads a.txt on a node make never ran on
READ = """\
import pathlib, sys, tempfile, time, stepline
name, barrier = sys.argv[1], pathlib.Path(sys.argv[2])
run = stepline.init()
value = int(pathlib.Path(run.use_artifact("a.txt:latest").file()).read_text())
(barrier / name).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < 2:
    if time.monotonic() > deadline:
        sys.exit("the other reader never started: both cannot run at once")
    time.sleep(0.1)
f = pathlib.Path(tempfile.mkdtemp()) / f"read_{name}.txt"
f.write_text(str(value + 1))
art = stepline.Artifact(f"read_{name}.txt", type="data")
art.add_file(str(f))
run.log_artifact(art)
run.summary["value"] = value + 1
"""


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, list[Path]]]:
    """The cluster, its temp folder, and each node's own cache folder."""
    base = tmp_path_factory.mktemp("nodes")
    caches = [base / f"node{i}-cache" for i in range(2)]
    env = [
        {"STEPLINE_CACHE_DIR": str(cache), "STEPLINE_CONFIG_DIR": str(base / f"node{i}-config")}
        for i, cache in enumerate(caches)
    ]
    try:
        with two_node_cluster(env) as (ray, temp):
            yield ray, temp, caches
    except ClusterUnavailable as exc:
        print(f"\nSKIP Ray tests: {exc}")
        pytest.skip(f"Ray cannot start here: {exc}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """An authenticating team server and a write token for project `demo`."""
    database = str(tmp_path / "server.sqlite")
    try:
        srv = start_server(tmp_path, database, f"file://{tmp_path / 'server-objects'}", {})
    except RuntimeError as exc:
        print(f"\nSKIP team-server test: the server did not start ({exc})")
        pytest.skip(f"the team server did not start: {exc}")
    try:
        user = f"ray{uuid.uuid4().hex[:6]}"
        out = srv.cli("users", "add", user, "--project", "demo=write", "--password-stdin",
                      "--database", database, stdin="pw\n")  # fmt: skip
        assert out.returncode == 0, out.stderr
        out = srv.cli("tokens", "create", "--user", user, "--project", "demo", "--role",
                      "write", "--database", database)  # fmt: skip
        assert out.returncode == 0, out.stderr
        yield srv, out.stdout.strip().rsplit(" ", 1)[1]
    finally:
        stop(srv.proc)


def write_pipeline(root: Path, barrier: Path) -> Path:
    for name, script, command in (
        ("make", MAKE, "python make.py"),
        ("read", READ, f"python read.py {{name}} {barrier}"),
    ):
        d = root / "components" / name
        d.mkdir(parents=True)
        (d / f"{name}.py").write_text(script)
        params = {"name": {"type": "string"}} if name == "read" else {}
        entry = {"main": {"parameters": params, "command": command}}
        (d / "MLproject").write_text(yaml.safe_dump({"name": name, "entry_points": entry}))
    steps: dict[str, Any] = {"make": {"component": "components/make", "outputs": ["a.txt"]}}
    for name in ("a", "b"):
        steps[f"read_{name}"] = {
            "component": "components/read",
            "parameters": {"name": name},
            "inputs": ["a.txt:latest"],
            "outputs": [f"read_{name}.txt"],
        }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"name": "demo", "project": "demo", "steps": steps}))
    return path


def objects_holding(cache: Path, content: bytes) -> list[Path]:
    """Files of the node's remote object cache (`<cache>/remote/<server>/`) with `content`."""
    remote = cache / "remote"
    if not remote.is_dir():
        return []
    return [p for p in remote.rglob("*") if p.is_file() and p.read_bytes() == content]


def test_tasks_read_and_write_through_the_team_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    nodes: tuple[Any, Path, list[Path]],
    server: tuple[Server, str],
) -> None:
    _ray, temp, caches = nodes
    srv, token = server
    monkeypatch.setenv("STEPLINE_TRACKING_URI", srv.url)
    monkeypatch.delenv("STEPLINE_TOKEN", raising=False)
    monkeypatch.setenv("STEPLINE_CONFIG_DIR", str(tmp_path / "driver-config"))
    store_token(srv.url, token)  # as `stepline login` does; only the driver has it
    backends.reset()
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    path = write_pipeline(tmp_path / "project", barrier)

    from stepline.pipeline.ray_executor import RayExecutor

    ex = RayExecutor(ComponentsRunner())
    try:
        res = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ex)
    finally:
        ex.shutdown()
    assert res.ok, {n: s.reason for n, s in res.steps.items()}
    assert {s.state for s in res.steps.values()} == {"finished"}
    assert not (tmp_path / ".stepline").exists()  # the driver's local store was never used

    api = stepline.Api()  # the server's records, read back over HTTP
    make = api.run(res.steps["make"].run_id)
    readers = [api.run(res.steps[f"read_{n}"].run_id) for n in ("a", "b")]
    for run in readers:
        assert run.summary["value"] == 42  # read make's a.txt
        assert run.used_artifacts()[0].logged_by().id == make.id
        assert run.info["executor"]["name"] == "ray"
    assert readers[0].info["executor"]["node_id"] != readers[1].info["executor"]["node_id"]
    for name in ("a", "b"):
        assert api.artifact(f"demo/read_{name}.txt:latest").logged_by().id in {
            r.id for r in readers
        }
    # a.txt's bytes are in both nodes' caches: on one node make staged them for upload, on the
    # other a reader fetched them from the server; the nodes share no stepline folder
    assert all(objects_holding(cache, b"41") for cache in caches), caches

    # the token reached the tasks (the server took their writes) but is in no record or log
    runs = [make, *readers, api.run(res.run_id)]
    for run in runs:
        recorded = json.dumps([run.info, run.config, dict(run.summary)], default=str)
        recorded += "".join(run.logs(stream) or "" for stream in ("stdout", "stderr"))
        assert token not in recorded
    for log in (temp / "session_latest" / "logs").rglob("*"):
        if log.is_file():
            assert token.encode() not in log.read_bytes(), log
