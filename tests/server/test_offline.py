"""A run never fails because the team server is down: it records into the local store, says so
once on stderr, and `stepline push` sends it later exactly once (a second push sends nothing).

The server is a real `stepline server` subprocess, stopped (down from the start) or killed with
SIGKILL while a run logs (lost mid-run), then started again on the same port and database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.server.conftest import free_port, start_server, stepline_cmd, stop

from stepline.backends.base import RunQuery
from stepline.backends.http import HttpBackend
from stepline.backends.local import LocalBackend

NOTICE = "sends it there later"

DOWN_SCRIPT = """
import pathlib, stepline
run = stepline.init(project="team", config={"lr": 0.1})
for step in range(50):
    run.log({"loss": 1.0 / (step + 1)})
p = pathlib.Path("data.txt"); p.write_text("content\\n" * 100)
art = stepline.Artifact("data", type="dataset")
art.add_file(str(p))
run.log_artifact(art, aliases=["prod"])
run.attach_log("stdout", b"hello\\n")
run.finish()
print(run.id)
"""

MIDRUN_SCRIPT = """
import pathlib, time, stepline
run = stepline.init(project="team", config={"lr": 0.1})
for step in range(100):
    run.log({"loss": 1.0 / (step + 1), "i": step})
pathlib.Path("ready").write_text(run.id)
while not pathlib.Path("go").exists():   # the test kills the server meanwhile
    time.sleep(0.05)
for step in range(100, 200):
    run.log({"loss": 1.0 / (step + 1), "i": step})
p = pathlib.Path("model.txt"); p.write_text("weights\\n" * 10)
art = stepline.Artifact("model", type="model")
art.add_file(str(p))
run.log_artifact(art)
run.summary["best"] = 0.5
run.finish()
"""


def _env(work: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPLINE_", "WANDB_"))}
    env.update(STEPLINE_CACHE_DIR=str(work / "cache"), STEPLINE_TRACKING_URI=url, **extra)
    return env


def _push(work: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(stepline_cmd("push", "--to", url), cwd=work, env=_env(work, url),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _local_runs(work: Path) -> list:  # type: ignore[type-arg]
    local = LocalBackend(work / ".stepline")
    try:
        return local.find_runs(RunQuery(project="team"))
    finally:
        local.close()


def test_server_down_from_the_start(tmp_path: Path) -> None:
    db, objects, port = str(tmp_path / "server.sqlite"), f"file://{tmp_path / 'objs'}", free_port()
    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    stop(srv.proc)  # a server that was there, and is gone
    work = tmp_path / "laptop"
    work.mkdir()
    (work / "train.py").write_text(DOWN_SCRIPT)
    out = subprocess.run([sys.executable, "train.py"], cwd=work, env=_env(work, srv.url),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.count(NOTICE) == 1, out.stderr
    assert "cannot reach" in out.stderr
    run_id = out.stdout.strip()
    [rec] = _local_runs(work)
    assert rec.id == run_id and rec.state == "finished"

    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    try:
        first = _push(work, srv.url)
        assert first.returncode == 0, first.stderr
        assert "1 run(s) sent, 0 already there; 1 version(s) sent" in first.stdout
        second = _push(work, srv.url)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == (
            "pushed: 0 run(s) sent, 1 already there; 0 version(s) sent, 1 already there;"
            " 0 object(s) uploaded"
        )
        server = HttpBackend(srv.url, cache=tmp_path / "reader")
        there = server.get_run(run_id)
        assert there.state == "finished" and there.config == {"lr": 0.1}
        assert [r["_step"] for r in server.history(run_id)] == list(range(50))
        assert server.get_log(run_id, "stdout") == b"hello\n"
        prod = server.resolve("team", "data", "prod")
        assert [r.id for r in server.producers(prod.id)] == [run_id]
        server.close()
    finally:
        stop(srv.proc)


def test_server_killed_mid_run(tmp_path: Path) -> None:
    db, objects, port = str(tmp_path / "server.sqlite"), f"file://{tmp_path / 'objs'}", free_port()
    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    work = tmp_path / "laptop"
    work.mkdir()
    (work / "train.py").write_text(MIDRUN_SCRIPT)
    env = _env(work, srv.url, STEPLINE_OFFLINE_AFTER="1")
    proc = subprocess.Popen([sys.executable, "train.py"], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (work / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        run_id = (work / "ready").read_text()
        reader = HttpBackend(srv.url, cache=tmp_path / "reader")
        while len(reader.history(run_id)) < 100:  # the first 100 points are on the server
            assert time.monotonic() < deadline
            time.sleep(0.1)
        reader.close()
        srv.proc.kill()
        srv.proc.wait()
        (work / "go").write_text("")
        _stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert stderr.count(NOTICE) == 1, stderr
    [rec] = _local_runs(work)  # the run went on locally, marked for push to complete
    assert rec.id == run_id and rec.state == "finished"
    assert rec.info["offline"]["partial"] is True and rec.info["offline"]["server"] == srv.url

    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    try:
        first = _push(work, srv.url)
        assert first.returncode == 0, first.stderr
        assert "1 run(s) sent, 0 already there; 1 version(s) sent" in first.stdout
        second = _push(work, srv.url)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == (
            "pushed: 0 run(s) sent, 1 already there; 0 version(s) sent, 1 already there;"
            " 0 object(s) uploaded"
        )
        server = HttpBackend(srv.url, cache=tmp_path / "reader2")
        rows = server.history(run_id)
        assert [r["_step"] for r in rows] == list(range(200))  # none lost, none doubled
        assert [r["i"] for r in rows] == list(range(200))
        there = server.get_run(run_id)
        assert there.state == "finished" and there.summary["best"] == 0.5
        assert there.summary["i"] == 199
        [model] = server.list_versions("team", "model")
        assert [r.id for r in server.producers(model.id)] == [run_id]
        server.close()
    finally:
        stop(srv.proc)


def test_pipeline_runs_with_the_server_down(tmp_path: Path) -> None:
    from tests.pipeline.helpers import chain

    db, objects, port = str(tmp_path / "server.sqlite"), f"file://{tmp_path / 'objs'}", free_port()
    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    stop(srv.proc)
    work = tmp_path / "project"
    work.mkdir()
    path = chain(work)
    (work / ".git").mkdir()  # the project root: its `.stepline/` is found here, as usual
    out = subprocess.run(stepline_cmd("run", str(path)), cwd=work, env=_env(work, srv.url),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr.count(NOTICE) == 1, out.stderr
    local = LocalBackend(work / ".stepline")
    runs = local.find_runs(RunQuery(project="demo"))
    assert len(runs) == 5 and {r.state for r in runs} == {"finished"}
    names = {a.name for a in local.list_artifacts("demo")}
    assert names == {"a.txt", "b.txt", "r.txt", "s.txt"}
    local.close()

    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    try:
        first = _push(work, srv.url)
        assert first.returncode == 0, first.stderr
        assert "5 run(s) sent, 0 already there; 4 version(s) sent" in first.stdout
        second = _push(work, srv.url)
        assert "0 run(s) sent, 5 already there; 0 version(s) sent, 4 already there" in (
            second.stdout
        )
    finally:
        stop(srv.proc)


def test_a_server_back_within_the_retry_window_keeps_the_run(tmp_path: Path) -> None:
    """A server restarted while the run retries: the run goes on there, nothing is kept locally."""
    db, objects, port = str(tmp_path / "server.sqlite"), f"file://{tmp_path / 'objs'}", free_port()
    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    work = tmp_path / "laptop"
    work.mkdir()
    (work / "train.py").write_text(MIDRUN_SCRIPT)
    env = _env(work, srv.url, STEPLINE_OFFLINE_AFTER="120")
    proc = subprocess.Popen([sys.executable, "train.py"], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (work / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        run_id = (work / "ready").read_text()
        srv.proc.kill()
        srv.proc.wait()
        (work / "go").write_text("")
        time.sleep(1)  # the run meets the dead server and retries
        srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert NOTICE not in stderr, stderr
        assert not (work / ".stepline").exists()  # nothing had to be kept locally
        server = HttpBackend(srv.url, cache=tmp_path / "reader")
        assert [r["i"] for r in server.history(run_id)] == list(range(200))
        assert server.get_run(run_id).state == "finished"
        assert [v.name for v in server.list_versions("team", "model")] == ["model"]
        server.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop(srv.proc)


def test_pipeline_loses_the_server_during_a_step(tmp_path: Path) -> None:
    """The server dies while a step's component runs: the step (its process attached to a run
    on the server) and the steps after it go on locally; push completes the pipeline there."""
    from tests.pipeline.helpers import component, pipeline

    db, objects, port = str(tmp_path / "server.sqlite"), f"file://{tmp_path / 'objs'}", free_port()
    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    work = tmp_path / "project"
    work.mkdir()
    (work / ".git").mkdir()
    ready, go = work / "ready", work / "go"
    component(work, "make", 'echo 1 > "$STEPLINE_OUT/a.txt"')
    wait = f'touch "{ready}"; while [ ! -e "{go}" ]; do sleep 0.05; done; echo 2 > "$STEPLINE_OUT/b.txt"'
    component(work, "wait", wait, uses=["a.txt:latest"])
    component(work, "report", 'echo 3 > "$STEPLINE_OUT/r.txt"', uses=["b.txt:latest"])
    path = pipeline(
        work,
        {
            "make": {"component": "components/make", "outputs": ["a.txt"]},
            "wait": {"component": "components/wait", "inputs": ["a.txt:latest"],
                     "outputs": ["b.txt"]},
            "report": {"component": "components/report", "inputs": ["b.txt:latest"],
                       "outputs": ["r.txt"]},
        },
    )  # fmt: skip
    env = _env(work, srv.url, STEPLINE_OFFLINE_AFTER="1")
    proc = subprocess.Popen(stepline_cmd("run", str(path)), cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        srv.proc.kill()
        srv.proc.wait()
        go.write_text("")
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stdout + stderr
    assert stderr.count(NOTICE) == 1, stderr

    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    try:
        first = _push(work, srv.url)
        assert first.returncode == 0, first.stderr
        second = _push(work, srv.url)
        assert second.returncode == 0, second.stderr
        assert " 0 run(s) sent" in second.stdout and " 0 version(s) sent" in second.stdout
        server = HttpBackend(srv.url, cache=tmp_path / "reader")
        runs = server.find_runs(RunQuery(project="demo"))
        steps = {r.job_type or r.name: r for r in runs}
        assert {r.state for r in runs} == {"finished"}, [(r.name, r.state) for r in runs]
        names = {a.name for a in server.list_artifacts("demo")}
        assert names == {"a.txt", "b.txt", "r.txt"}
        [b] = server.list_versions("demo", "b.txt")
        [made_b] = server.producers(b.id)
        assert made_b.id in {r.id for r in runs}
        assert len(runs) == len(steps)
        server.close()
    finally:
        stop(srv.proc)


def test_a_reader_is_told_the_server_is_down(tmp_path: Path) -> None:
    """Only a process that records falls back: `stepline runs ls` says the server is unreachable
    (exit 6) and keeps no local store."""
    db, objects, port = str(tmp_path / "server.sqlite"), f"file://{tmp_path / 'objs'}", free_port()
    srv = start_server(tmp_path, db, objects, {}, auth=False, port=port)
    stop(srv.proc)
    work = tmp_path / "laptop"
    work.mkdir()
    out = subprocess.run(stepline_cmd("runs", "ls"), cwd=work, env=_env(work, srv.url),
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 6, out.stdout + out.stderr
    assert "cannot reach" in out.stderr and NOTICE not in out.stderr
    assert not (work / ".stepline").exists()
