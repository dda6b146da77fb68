"""The Ray executor on a real Ray cluster of two nodes on this machine, against the real store.

One cluster for the module (`ray_cluster`, tests/pipeline/conftest.py): a head and one more
worker node, one CPU each, started with `ray start` as an operator would. Every test is
marked `ray` and is skipped, with the reason printed, where Ray is not installed or the
cluster cannot start. Components are the shell components of `helpers`, run for real in Ray
workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import stepline
from stepline.pipeline.run import ExecutionResult, Listener, run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.pipeline.sweep import expand_grid, run_sweep
from stepline.pipeline.tracking import ComponentsRunner, CoreTracker

from .helpers import chain, component, pipeline, sweep_pipeline

pytestmark = pytest.mark.ray


@pytest.fixture
def ray_executor(ray_cluster: Any) -> Iterator[Any]:
    from stepline.pipeline.ray_executor import RayExecutor

    ex = RayExecutor(ComponentsRunner())
    yield ex
    ex.shutdown()


def digests(result: ExecutionResult, project: str = "demo") -> dict[str, str]:
    api = stepline.Api()
    out = {}
    for state in result.steps.values():
        for name, version in state.outputs.items():
            out[name] = api.artifact(f"{project}/{name}:{version}").digest
    return out


def states(result: ExecutionResult) -> dict[str, str]:
    return {n: s.state for n, s in result.steps.items()}


def test_same_digests_as_local_then_all_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_executor: Any
) -> None:
    path = chain(tmp_path)
    local = run_pipeline(load_pipeline(path), tracker=CoreTracker(), jobs=2)
    assert local.ok, {n: s.reason for n, s in local.steps.items()}
    local_digests = digests(local)

    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / "ray-store"))  # a second, empty store
    from stepline import backends

    backends.reset()
    from stepline.pipeline.ray_executor import RayExecutor

    ex = RayExecutor(ComponentsRunner())  # picks up the new store
    try:
        first = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ex)
        assert first.ok, {n: s.reason for n, s in first.steps.items()}
        assert set(states(first).values()) == {"finished"}
        assert digests(first) == local_digests and len(local_digests) == 4
        run = stepline.Api().run(first.steps["double"].run_id)
        assert run.info["executor"]["name"] == "ray" and run.info["executor"]["node_id"]
        assert run.info["execution"] == first.execution_id
        # execution-scoped latest: double read the a.txt that this execution's make logged
        assert run.used_artifacts()[0].logged_by().id == first.steps["make"].run_id

        second = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ex)
        assert set(states(second).values()) == {"cached"}
        assert second.steps["report"].cached_from == first.steps["report"].run_id
    finally:
        ex.shutdown()
    assert not (tmp_path / "ray-store").samefile(tmp_path / ".stepline")


def test_failing_and_killed_steps_are_reported_failed(tmp_path: Path, ray_executor: Any) -> None:
    component(tmp_path, "bad", "echo 'ValueError: no rows left' >&2; exit 3", {})
    component(tmp_path, "killed", "kill -9 $$", {})
    component(tmp_path, "after", 'echo x > "$STEPLINE_OUT/c.txt"', {}, uses=["k.txt:latest"])
    path = pipeline(
        tmp_path,
        {
            "bad": {"component": "components/bad", "outputs": ["b.txt"]},
            "killed": {"component": "components/killed", "outputs": ["k.txt"]},
            "after": {
                "component": "components/after",
                "inputs": ["k.txt:latest"],
                "outputs": ["c.txt"],
            },
        },
    )
    res = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ray_executor)
    assert res.status == "failed"
    assert states(res) == {"bad": "failed", "killed": "failed", "after": "skipped"}
    assert "exit code 3" in res.steps["bad"].reason
    assert "ValueError: no rows left" in res.steps["bad"].reason
    assert "killed by signal SIGKILL" in res.steps["killed"].reason
    api = stepline.Api()
    assert api.run(res.steps["bad"].run_id).state == "failed"
    assert api.run(res.steps["killed"].run_id).state == "failed"


def test_resources_reach_ray_and_impossible_ones_fail(tmp_path: Path, ray_executor: Any) -> None:
    component(tmp_path, "big", 'echo big > "$STEPLINE_OUT/big.txt"', {})
    component(tmp_path, "huge", 'echo huge > "$STEPLINE_OUT/huge.txt"', {})
    path = pipeline(
        tmp_path,
        {
            "big": {
                "component": "components/big",
                "outputs": ["big.txt"],
                "resources": {"cpus": 1, "memory": "100MB"},
            },
            "huge": {
                "component": "components/huge",
                "outputs": ["huge.txt"],
                "resources": {"gpus": 1},
            },
        },
    )
    spec = load_pipeline(path)
    assert dict(spec.steps["big"].resources) == {"cpus": 1.0, "memory": 100e6}
    res = run_pipeline(spec, tracker=CoreTracker(), executor=ray_executor)
    assert res.steps["big"].state == "finished", res.steps["big"].reason
    assigned = stepline.Api().run(res.steps["big"].run_id).info["executor"]["assigned"]
    assert assigned["CPU"] == 1 and assigned["memory"] == 100e6
    assert res.steps["huge"].state == "failed"
    assert "resources.gpus: 1 requested but no node of the Ray cluster has more than 0" in (
        res.steps["huge"].reason
    )


def test_a_step_wider_than_any_node_fails_though_the_cluster_has_enough(
    tmp_path: Path, ray_executor: Any
) -> None:
    component(tmp_path, "wide", 'echo w > "$STEPLINE_OUT/w.txt"', {})
    path = pipeline(
        tmp_path,
        {"wide": {"component": "components/wide", "outputs": ["w.txt"], "resources": {"cpus": 2}}},
    )
    res = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ray_executor)
    assert res.steps["wide"].state == "failed"  # two nodes of one CPU: 2 in all, 1 per task
    assert "cpus: 2 requested but no node of the Ray cluster has more than 1 (2 node(s))" in (
        res.steps["wide"].reason
    )


def test_sweep_fans_out_on_ray(tmp_path: Path, ray_executor: Any) -> None:
    path = sweep_pipeline(tmp_path)
    res = run_sweep(
        path,
        expand_grid(["m.depth=1,5", "m.trees=100,300"]),
        tracker=CoreTracker(),
        optimize="summary.mae:min",
        executor=ray_executor,
    )
    assert res.ok and len(res.points) == 4
    best = res.points[res.best]  # type: ignore[index]
    assert best.overrides == ["m.depth=5", "m.trees=100"] and best.value == 3
    preps = sorted(p.result.steps["prep"].state for p in res.points if p.result)
    assert preps == ["cached", "cached", "cached", "finished"]  # identical prep ran once


def test_a_sixteen_execution_sweep_uses_both_nodes(tmp_path: Path, ray_executor: Any) -> None:
    path = sweep_pipeline(tmp_path)
    # a model step that takes a second, as training does: sixteen of them released at once
    # cannot all wait for the head's one CPU while the other node's is free (a step of a few
    # milliseconds may end before the next is queued, and Ray then keeps it on the head)
    train = tmp_path / "components" / "train" / "train.py"
    train.write_text(train.read_text() + "import time; time.sleep(1)\n")
    res = run_sweep(
        path,
        expand_grid(["m.depth=1,2,3,5", "m.trees=100,200,300,400"]),
        tracker=CoreTracker(),
        optimize="summary.mae:min",
        executor=ray_executor,
    )
    assert res.ok and len(res.points) == 16
    api = stepline.Api()
    ran = [
        api.run(s.run_id)
        for p in res.points
        if p.result
        for s in p.result.steps.values()
        if s.state == "finished"
    ]
    assert len(ran) == 17  # one prep, sixteen models
    nodes = {r.info["executor"]["node_id"] for r in ran}
    assert len(nodes) == 2, nodes


class _Started(Listener):
    def __init__(self) -> None:
        self.running = threading.Event()

    def step_changed(self, execution: str, state: Any) -> None:
        if state.state == "running":
            self.running.set()


def test_cancel_stops_running_task_and_drops_the_rest(tmp_path: Path, ray_executor: Any) -> None:
    component(tmp_path, "slow", 'sleep 60; echo s > "$STEPLINE_OUT/s.txt"', {})
    component(tmp_path, "next", 'echo n > "$STEPLINE_OUT/n.txt"', {}, uses=["s.txt:latest"])
    path = pipeline(
        tmp_path,
        {
            "slow": {"component": "components/slow", "outputs": ["s.txt"]},
            "next": {
                "component": "components/next",
                "inputs": ["s.txt:latest"],
                "outputs": ["n.txt"],
            },
        },
    )
    cancel = threading.Event()
    listener = _Started()
    out: dict[str, ExecutionResult] = {}
    spec = load_pipeline(path)

    def go() -> None:
        out["r"] = run_pipeline(
            spec, tracker=CoreTracker(), executor=ray_executor, listener=listener, cancel=cancel
        )

    t = threading.Thread(target=go)
    t.start()
    assert listener.running.wait(30)
    # wait until the step's run exists on the worker, so the cancel reaches a running step
    api = stepline.Api()
    deadline = time.monotonic() + 30
    while not api.runs("demo", {"job_type": "slow"}) and time.monotonic() < deadline:
        time.sleep(0.1)
    t0 = time.monotonic()
    cancel.set()
    t.join(45)
    assert not t.is_alive()
    res = out["r"]
    assert res.status == "cancelled"
    assert res.steps["slow"].state in ("cancelled", "failed")
    assert res.steps["next"].state == "cancelled"
    assert time.monotonic() - t0 < 40  # well before the 60 s sleep would have ended
    # the worker stops the component and ends its run failed, shortly after Ray reports
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = api.runs("demo", {"job_type": "slow"})
        if [r.state for r in runs] != ["running"]:
            break
        time.sleep(0.2)
    assert [r.state for r in runs] == ["failed"], time.monotonic() - t0


def test_env_is_built_once_on_the_driver_and_used_by_the_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_executor: Any
) -> None:
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(tmp_path / "cache"))
    names = ("one", "two")
    for name in names:
        d = tmp_path / "components" / name
        d.mkdir(parents=True)
        (d / "python_env.yaml").write_text("dependencies: []\n")
        (d / "job.py").write_text(
            "import pathlib, sys, tempfile, stepline\n"
            "run = stepline.init()\n"
            "f = pathlib.Path(tempfile.mkdtemp()) / 'py.txt'\n"
            "f.write_text(sys.executable)\n"
            f"art = stepline.Artifact('{name}.txt', type='data')\n"
            "art.add_file(str(f))\n"
            "run.log_artifact(art)\n"
        )
        (d / "MLproject").write_text(
            f"name: {name}\npython_env: python_env.yaml\n"
            "entry_points:\n  main:\n    command: python job.py\n"
        )
    path = pipeline(
        tmp_path,
        {n: {"component": f"components/{n}", "outputs": [f"{n}.txt"]} for n in names},
    )
    built: list[str] = []
    from stepline.pipeline.ray_executor import build_env_here

    def counting(prepared: Any, on_log: Any) -> None:
        built.append(prepared.env_digest)
        build_env_here(prepared, on_log)

    ray_executor.build_env = counting
    res = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ray_executor)
    assert res.ok, {n: s.reason for n, s in res.steps.items()}
    api = stepline.Api()
    runs = [api.run(res.steps[n].run_id) for n in names]
    assert len(built) == 1  # one lock digest, built once here on the driver
    assert {r.info["env_digest"] for r in runs} == set(built)
    for r in runs:
        assert r.info["env_built_now"] is False  # the task found it built, installed nothing
        env_path = Path(r.info["env_path"])
        python = api.artifact(f"demo/{r.job_type}.txt:latest").file()
        assert Path(Path(python).read_text()).is_relative_to(env_path)


def test_cli_runs_on_ray_and_refuses_mixed_options(tmp_path: Path, ray_cluster: Any) -> None:
    import json

    from click.testing import CliRunner

    from stepline.cli import cli as stepline_cli

    path = chain(tmp_path)
    res = CliRunner().invoke(stepline_cli, ["run", str(path), "--executor", "ray", "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert {s["state"] for s in body["steps"].values()} == {"finished"}
    run = stepline.Api().run(body["steps"]["make"]["run_id"])
    assert run.info["executor"]["name"] == "ray"
    assert ray_cluster.is_initialized()  # a connection the CLI did not open stays open

    res = CliRunner().invoke(stepline_cli, ["run", str(path), "-m", "v=1,2", "--executor", "ray"])
    assert res.exit_code == 0, res.output

    res = CliRunner().invoke(stepline_cli, ["run", str(path), "--address", "auto"])
    assert res.exit_code == 2 and "--address is for --executor ray" in res.output
    res = CliRunner().invoke(stepline_cli, ["run", str(path), "--executor", "ray", "-j", "2"])
    assert res.exit_code == 2 and "-j is for the local executor" in res.output


def test_a_lost_worker_fails_its_step_unless_it_may_be_retried(
    tmp_path: Path, ray_executor: Any
) -> None:
    marker = tmp_path / "attempts"
    # the component's parent is the Ray worker running its task: kill it, as a lost node would
    component(tmp_path, "doomed", f'echo x >> "{marker}"; kill -9 $PPID; sleep 5', {})
    path = pipeline(tmp_path, {"doomed": {"component": "components/doomed", "outputs": ["d.txt"]}})
    res = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ray_executor)
    assert res.steps["doomed"].state == "failed"
    assert "its Ray worker was lost" in res.steps["doomed"].reason
    assert marker.read_text().count("x") == 1  # no retries: not run a second time
    assert "mark it `retries: N`" in res.steps["doomed"].reason
    # the run the lost worker began is ended failed at once, and the step points at it
    api = stepline.Api()
    (run,) = api.runs("demo", {"job_type": "doomed"})
    assert res.steps["doomed"].run_id == run.id
    assert run.state == "failed" and run.info["worker_lost"] is True
    assert "its Ray worker was lost" in run.info["error"]

    # `retries: 2`: the first attempt loses its worker, the second finishes
    again = tmp_path / "again"
    component(
        tmp_path,
        "flaky",
        f'echo x >> "{again}"; [ "$(wc -l < "{again}")" -ge 2 ] || kill -9 $PPID; '
        'echo ok > "$STEPLINE_OUT/f.txt"',
        {},
    )
    path = pipeline(
        tmp_path,
        {"flaky": {"component": "components/flaky", "outputs": ["f.txt"], "retries": 2}},
    )
    res = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ray_executor)
    assert res.steps["flaky"].state == "finished", res.steps["flaky"].reason
    assert again.read_text().count("x") == 2
    first, second = sorted(api.runs("demo", {"job_type": "flaky"}), key=lambda r: r.created_at)
    assert (first.state, second.state) == ("failed", "finished")
    assert second.id == res.steps["flaky"].run_id
    assert f"run {second.id} ran the step again" in first.info["error"]


def test_a_restarted_driver_reruns_nothing_that_finished(tmp_path: Path, ray_executor: Any) -> None:
    component(tmp_path, "first", 'echo 1 > "$STEPLINE_OUT/one.txt"', {})
    component(
        tmp_path,
        "second",
        f'[ -e "{tmp_path}/go" ] || sleep 300; echo 2 > "$STEPLINE_OUT/two.txt"',
        {},
        uses=["one.txt:latest"],
    )
    path = pipeline(
        tmp_path,
        {
            "first": {"component": "components/first", "outputs": ["one.txt"]},
            "second": {
                "component": "components/second",
                "inputs": ["one.txt:latest"],
                "outputs": ["two.txt"],
            },
        },
    )
    address = ray_executor.ray.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [
            *(sys.executable, "-c", "from stepline.cli import main; main()", "run", str(path)),
            *("--executor", "ray", "--address", address),
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    api = stepline.Api()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not api.runs("demo", {"job_type": "second"}):
        assert driver.poll() is None, driver.communicate()[1]
        time.sleep(0.2)
    (first_run,) = api.runs("demo", {"job_type": "first"})
    assert first_run.state == "finished"
    driver.kill()  # the driver crashes while `second` runs
    driver.communicate(timeout=60)
    (tmp_path / "go").touch()
    res = run_pipeline(load_pipeline(path), tracker=CoreTracker(), executor=ray_executor)
    assert res.ok, {n: s.reason for n, s in res.steps.items()}
    assert res.steps["first"].state == "cached"
    assert res.steps["first"].cached_from == first_run.id
    assert res.steps["second"].state == "finished"
