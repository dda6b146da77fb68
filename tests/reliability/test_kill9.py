"""kill -9 at random moments: while logging artifacts, while logging metrics, during a pipeline step.

Every trial is a real process killed with SIGKILL at a random delay (seeded, so a failure can be
replayed). Afterwards: no half version (every version has all its files and their objects),
`fsck` clean, the killed run reads as `crashed`, and at most the last second of metrics is gone.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import yaml
from _forking import Forker, descendants, wait_for, wait_gone
from _workloads import TRAIN

import stepline
from stepline import backends
from stepline.backends.fsck import fsck

TRIALS = 20


def check_store(name: str, files: int) -> int:
    """No half version of `name`, fsck clean; returns the number of versions."""
    backend = backends.get_backend()
    report = fsck(backend)
    assert report.clean, (report.corrupt, report.missing)
    known = {a.name for p in backend.project_names() for a in backend.list_artifacts(p)}
    if name not in known:
        return 0
    project = next(
        p for p in backend.project_names() if name in {a.name for a in backend.list_artifacts(p)}
    )
    versions = backend.list_versions(project, name)
    assert [v.version for v in versions] == list(range(len(versions)))
    for v in versions:
        assert v.file_count == files == len(v.manifest.entries), v.ref
        assert all(backend.objects.has(e.digest) for e in v.manifest.entries.values()), v.ref
    return len(versions)


def no_run_left_running() -> None:
    api = stepline.Api()
    for project in backends.get_backend().project_names():
        states = {r.id: r.state for r in api.runs(project)}
        assert "running" not in states.values(), states


def test_kill_during_log_artifact(forker: Forker, tmp_path: Path) -> None:
    rng = random.Random(1)
    for n in range(TRIALS):
        ready = tmp_path / f"ready{n}"
        pid = forker.fork("artifacts", ready=str(ready), data=str(tmp_path / f"d{n}"), seed=n)
        run_id = wait_for(ready)
        time.sleep(rng.uniform(0.0, 1.0))
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        assert stepline.Api().run(run_id).state == "crashed", f"trial {n}"
    committed = check_store("blob", files=8)
    print(f"\n{committed} versions committed between {TRIALS} kills")
    assert committed > 0
    no_run_left_running()


def test_kill_during_metric_logging_loses_at_most_a_second(forker: Forker, tmp_path: Path) -> None:
    rng = random.Random(2)
    for n in range(TRIALS):
        ready = tmp_path / f"ready{n}"
        pid = forker.fork("metrics", ready=str(ready))
        run_id = wait_for(ready)
        time.sleep(rng.uniform(0.2, 1.2))
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        run = stepline.Api().run(run_id)
        assert run.state == "crashed", f"trial {n}"
        rows = run.history()
        assert [r["i"] for r in rows] == list(range(len(rows))), f"trial {n}: a gap"
        last = rows[-1]["t"] if rows else run.created_at
        assert killed_at - last <= 1.0, f"trial {n}: {killed_at - last:.2f}s of metrics lost"
    check_store("none", files=0)


def pipeline_project(root: Path) -> Path:
    comp = root / "components" / "train"
    comp.mkdir(parents=True)
    (comp / "train.py").write_text(TRAIN)
    (comp / "MLproject").write_text(
        yaml.safe_dump(
            {
                "name": "train",
                "entry_points": {
                    "main": {
                        "parameters": {"seed": {"type": "string"}},
                        "command": "python train.py --seed {seed}",
                    }
                },
            }
        )
    )
    path = root / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "kill",
                "project": "kill",
                "config": {"seed": 0},
                "steps": {
                    "train": {
                        "component": "components/train",
                        "parameters": {"seed": "${seed}"},
                        "outputs": ["model"],
                        "env_manager": "local",
                    }
                },
            }
        )
    )
    return path


def kill_tree(pid: int) -> bool:
    """SIGKILL `pid` and everything it started (its steps run in their own sessions).

    False when `pid` had already ended.
    """
    try:
        os.kill(pid, signal.SIGSTOP)  # frozen: it can start nothing more while we look
    except ProcessLookupError:
        return False
    below = descendants(pid)
    ours = os.getpgrp()  # a child still in the test's own group is killed alone, never the group
    for child in below:
        try:
            group = os.getpgid(child)
            if group != ours:
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.kill(pid, signal.SIGKILL)
    for child in [pid, *below]:
        wait_gone(child)
    return True


def test_kill_during_a_pipeline_step(forker: Forker, tmp_path: Path) -> None:
    path = pipeline_project(tmp_path)
    ready = tmp_path / "ready-whole"
    pid = forker.fork("pipeline", ready=str(ready), path=str(path), seed=-1)
    wait_for(ready)
    started = time.monotonic()
    wait_gone(pid, timeout=300)
    whole = time.monotonic() - started  # one step, start to end: the kills land all over it
    assert check_store("model", files=4) == 1
    rng = random.Random(3)
    kills = ended = 0
    while kills < TRIALS:  # two pipelines at a time, each killed at its own random moment
        started = []
        for _ in range(2):
            n = kills + ended + len(started)
            ready = tmp_path / f"ready{n}"
            pid = forker.fork("pipeline", ready=str(ready), path=str(path), seed=n)
            started.append((pid, ready))
        schedule = []
        for pid, ready in started:
            wait_for(ready)
            schedule.append((time.monotonic() + rng.uniform(0.0, whole), pid))
        for at, pid in sorted(schedule):
            time.sleep(max(0.0, at - time.monotonic()))
            if kill_tree(pid):
                kills += 1
            else:  # it ended before its kill: not a trial, go again
                ended += 1
                assert ended <= TRIALS, "the pipeline keeps ending before the kill"
        no_run_left_running()
    committed = check_store("model", files=4) - 1 - ended
    crashed = [r for r in stepline.Api().runs("kill") if r.state == "crashed"]
    print(
        f"\nstep takes {whole:.1f}s; {kills} kills, {len(crashed)} runs crashed;"
        f" {committed} versions committed before a kill; {ended} pipelines ended first"
    )
    assert crashed, "no kill landed during a step"
