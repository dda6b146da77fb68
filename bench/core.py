"""Benchmarks for the tracking core (issue: local-first tracking and versioned artifacts).

    python bench/core.py [--quick]

Each figure is measured in the same run as its reference (a `python -c pass`, `cp -r`, BLAKE3's own
threaded hashing, and wandb/mlflow when a peer venv exists: see bench/peers.sh). Run figures are
the best of three new processes, for stepline and the peers alike; stepline's bytecode is
written first, as installing it would.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_of, ms, peer_python, report, run_cmd

PY = sys.executable


def bench_import(rows: list[dict[str, Any]]) -> None:
    base = best_of(7, lambda: run_cmd([PY, "-c", "pass"]))
    ours = best_of(7, lambda: run_cmd([PY, "-c", "import stepline"]))
    rows.append(
        {
            "case": "python -c 'import stepline'",
            "stepline": ms(ours),
            "reference": f"python -c pass {ms(base)}",
            "target": "<= 100 ms",
            "ok": ours <= 0.100,
            "seconds": ours,
            "reference_seconds": base,
        }
    )
    peer = peer_python()
    if peer:
        for mod in ("wandb", "mlflow"):
            t = best_of(3, lambda m=mod: run_cmd([peer, "-c", f"import {m}"]))  # type: ignore[misc]
            rows.append(
                {"case": f"  peer: import {mod}", "stepline": "", "reference": ms(t), "seconds": t}
            )


INIT_SCRIPT = """
import time, statistics, stepline, sys
first = None
times = []
for i in range(60):
    t = time.perf_counter()
    run = stepline.init(project="bench", reinit="create_new")
    run.finish()
    dt = time.perf_counter() - t
    if first is None:
        first = dt
    times.append(dt)
print(first, statistics.median(times[10:]))
"""

LOG_SCRIPT = """
import time, stepline
t = time.perf_counter()
run = stepline.init(project="bench", reinit="create_new")
for i in range(10_000):
    run.log({"loss": 1.0 / (i + 1), "acc": i * 1e-4, "lr": 0.001, "epoch": i // 100, "step_time": 0.01})
run.finish()
print(time.perf_counter() - t)
"""

PEER_INIT = {
    "mlflow": """
import time, statistics, tempfile, os
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow
mlflow.set_tracking_uri("file://" + tempfile.mkdtemp())
mlflow.set_experiment("bench")
times = []
for i in range(30):
    t = time.perf_counter()
    mlflow.start_run(); mlflow.end_run()
    times.append(time.perf_counter() - t)
print(times[0], statistics.median(times[5:]))
""",
    "wandb": """
import time, statistics, wandb, os
os.environ["WANDB_MODE"] = "offline"; os.environ["WANDB_SILENT"] = "true"
times = []
for i in range(5):
    t = time.perf_counter()
    run = wandb.init(project="bench", reinit="create_new"); run.finish()
    times.append(time.perf_counter() - t)
print(times[0], statistics.median(times[1:]))
""",
}
PEER_LOG = {
    "mlflow": """
import time, tempfile, os
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow
from mlflow.entities import Metric
mlflow.set_tracking_uri("file://" + tempfile.mkdtemp())
mlflow.set_experiment("bench")
client = mlflow.MlflowClient()
t = time.perf_counter()
run = mlflow.start_run()
ms = int(time.time() * 1000)
for i in range(10_000):
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, ms, i) for k, v in
        {"loss": 1.0 / (i + 1), "acc": i * 1e-4, "lr": 0.001, "epoch": i // 100, "step_time": 0.01}.items()])
mlflow.end_run()
print(time.perf_counter() - t)
""",
    "wandb": """
import time, wandb, os
os.environ["WANDB_MODE"] = "offline"; os.environ["WANDB_SILENT"] = "true"
t = time.perf_counter()
run = wandb.init(project="bench")
for i in range(10_000):
    run.log({"loss": 1.0 / (i + 1), "acc": i * 1e-4, "lr": 0.001, "epoch": i // 100, "step_time": 0.01})
run.finish()
print(time.perf_counter() - t)
""",
}


def _py(code: str, env: dict[str, str], python: str = PY) -> list[float]:
    out = subprocess.run(
        [python, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=env.get("CWD"),
    )
    return (
        [float(x) for x in out.stdout.split()[-2:]]
        if " " in out.stdout.strip()
        else [float(out.stdout.split()[-1])]
    )


def _best(n: int, code: str, env: dict[str, str], python: str = PY) -> list[float]:
    """Each figure's best over `n` new processes (the machine may be busy with other work)."""
    runs = [_py(code, env, python) for _ in range(n)]
    return [min(column) for column in zip(*runs, strict=True)]


def compile_sources() -> None:
    """Write stepline's bytecode, as installing a wheel does (the peers are installed wheels).

    With PYTHONDONTWRITEBYTECODE set, an editable install would otherwise compile every module
    it imports in every new process, and a first `init` would time the compiler.
    """
    import compileall

    import stepline

    compileall.compile_dir(Path(stepline.__file__).parent, quiet=1)


def bench_runs(rows: list[dict[str, Any]], env: dict[str, str]) -> None:
    new_store = _py(INIT_SCRIPT, env)[0]  # creates the store and its schema (once per store)
    first, steady = _best(3, INIT_SCRIPT, env)  # a new process on that store: every step's case
    rows.append(
        {
            "case": "first init + finish in a new process",
            "stepline": ms(first),
            "reference": f"into a new store: {ms(new_store)}",
            "target": "<= 30 ms",
            "ok": first <= 0.030,
            "seconds": first,
            "new_store_seconds": new_store,
        }
    )
    rows.append(
        {
            "case": "init + finish, empty run (median)",
            "stepline": ms(steady),
            "target": "<= 10 ms",
            "ok": steady <= 0.010,
            "seconds": steady,
        }
    )
    total = _best(3, LOG_SCRIPT, env)[0]
    rows.append(
        {
            "case": "10,000 run.log x 5 scalars, init..finish",
            "stepline": ms(total),
            "reference": "a new process",
            "target": "<= 100 ms",
            "ok": total <= 0.1,
            "seconds": total,
        }
    )
    peer = peer_python()
    if peer:
        tmp = tempfile.mkdtemp()
        for name in ("mlflow", "wandb"):
            try:
                f, s = _best(3, PEER_INIT[name], {"CWD": tmp}, peer)
                rows.append(
                    {
                        "case": f"  peer: {name} init + finish",
                        "stepline": "",
                        "reference": f"{ms(s)} (first {ms(f)})",
                        "seconds": s,
                        "first_seconds": f,
                    }
                )
                t = _best(3, PEER_LOG[name], {"CWD": tmp}, peer)[0]
                rows.append(
                    {
                        "case": f"  peer: {name} 10,000 logs",
                        "stepline": "",
                        "reference": ms(t),
                        "seconds": t,
                    }
                )
            except subprocess.CalledProcessError as exc:
                rows.append(
                    {
                        "case": f"  peer: {name}",
                        "stepline": "",
                        "reference": f"failed: {exc.stderr[-200:]}",
                    }
                )


def _tree(root: Path, files: int, size: int) -> None:
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"part-{i:04d}.bin").write_bytes(os.urandom(size))


def bench_artifacts(
    rows: list[dict[str, Any]], work: Path, env: dict[str, str], quick: bool
) -> None:
    files, size = (40, 2_500_000) if quick else (200, 2_500_000)
    data = work / "data"
    _tree(data, files, size)
    os.sync()
    cp = best_of(
        3,
        lambda: (
            shutil.rmtree(work / "cp", ignore_errors=True),
            run_cmd(["cp", "-r", str(data), str(work / "cp")]),
        ),
    )
    shutil.rmtree(work / "cp")
    script = f"""
import time, stepline, os, sys
from pathlib import Path
data = Path({str(data)!r})
def log():
    t = time.perf_counter()
    with stepline.init(project="bench", reinit="create_new") as run:
        art = stepline.Artifact("tree", "data")
        art.add_dir(data)
        run.log_artifact(art)
    return time.perf_counter() - t, art
stepline.init(project="bench", reinit="create_new").finish()
stepline.Api().artifact_collections()  # the one-time SQLAlchemy import (versions are written with it)
os.sync()
first, a0 = log()
time.sleep(0.2)
again, a1 = log()
(data / "part-0007.bin").write_bytes(os.urandom({size}))
time.sleep(0.2)
changed, a2 = log()
api = stepline.Api()
v = api.artifact("bench/tree:v0")
v.download("{work}/dl-warm")
t = time.perf_counter()
v.download("{work}/dl")
dl = time.perf_counter() - t
print(first, again, changed, dl, a0.version, a1.version, a2.version)
"""
    out = subprocess.run(
        [PY, "-c", script], env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout.split()
    first, again, changed, dl = map(float, out[:4])
    label = f"{files} files x 2.5 MB ({files * size // 1_000_000} MB)"
    rows.append(
        {
            "case": f"first version, {label}",
            "stepline": ms(first),
            "reference": f"cp -r {ms(cp)}",
            "ratio": first / cp,
            "target": "<= 1.5 x cp -r",
            "ok": first <= 1.5 * cp,
            "seconds": first,
            "reference_seconds": cp,
        }
    )
    # the same first version without the durable flush (STEPLINE_FSYNC=0), for comparison
    (data / "part-0007.bin").write_bytes(os.urandom(size))
    nofsync_env = {
        **os.environ,
        **env,
        "STEPLINE_FSYNC": "0",
        "STEPLINE_DIR": str(work / ".stepline-nofsync"),
    }
    quick_first = subprocess.run(
        [PY, "-c", script], env=nofsync_env, capture_output=True, text=True, check=True
    ).stdout.split()[0]
    rows.append(
        {
            "case": "  same, STEPLINE_FSYNC=0 (no durable flush)",
            "stepline": ms(float(quick_first)),
            "reference": f"cp -r {ms(cp)}",
            "ratio": float(quick_first) / cp,
            "seconds": float(quick_first),
        }
    )
    rows.append(
        {
            "case": "same folder logged again (no new version)",
            "stepline": ms(again),
            "target": "<= 50 ms",
            "ok": again <= 0.05,
            "seconds": again,
            "versions": out[4:],
        }
    )
    rows.append(
        {
            "case": "one 2.5 MB file changed (new version)",
            "stepline": ms(changed),
            "target": "<= 100 ms",
            "ok": changed <= 0.1,
            "seconds": changed,
        }
    )
    rows.append(
        {
            "case": "download of a stored version (copies, hashed)",
            "stepline": ms(dl),
            "reference": f"cp -r {ms(cp)}",
            "ratio": dl / cp,
            "target": "<= 1.2 x cp -r",
            "ok": dl <= 1.2 * cp,
            "seconds": dl,
            "reference_seconds": cp,
        }
    )


def bench_hash(rows: list[dict[str, Any]], work: Path, quick: bool) -> None:
    import blake3

    from stepline.store.hashing import hash_file

    size = (256 if quick else 1024) * 1_000_000
    big = work / "big.bin"
    with open(big, "wb") as f:
        chunk = os.urandom(8_000_000)
        for _ in range(size // len(chunk)):
            f.write(chunk)
    hash_file(big)  # warm the page cache
    ref = best_of(3, lambda: blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(big))
    ours = best_of(3, lambda: hash_file(big))

    def md5() -> None:
        h = hashlib.md5()
        with open(big, "rb") as fh:
            while b := fh.read(1 << 20):
                h.update(b)

    md5_t = best_of(1, md5)
    gbs = size / 1e9
    rows.append(
        {
            "case": f"hash a {size // 1_000_000} MB file (page cache)",
            "stepline": f"{gbs / ours:.2f} GB/s",
            "reference": f"blake3 threaded {gbs / ref:.2f} GB/s; md5 {gbs / md5_t:.2f} GB/s",
            "ratio": ref / ours,
            "target": ">= 70 % of blake3",
            "ok": (ref / ours) >= 0.7,
            "seconds": ours,
            "reference_seconds": ref,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data, for a smoke run")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="stepline-bench-") as tmp:
        work = Path(tmp)
        env = {
            "STEPLINE_DIR": str(work / ".stepline"),
            "STEPLINE_CACHE_DIR": str(work / "cache"),
            "CWD": str(work),
        }
        compile_sources()
        bench_import(rows)
        bench_runs(rows, env)
        bench_artifacts(rows, work, env, args.quick)
        bench_hash(rows, work, args.quick)
    report("core", rows)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"bench/core.py took {time.perf_counter() - t0:.0f} s")
