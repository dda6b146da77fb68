"""Benchmark: model serving throughput/latency and package save/load time, skops vs pickle.

    PYTHONPATH=src python bench/serving.py [--requests 2000] [--concurrency 4]

Serves a small random forest (a rental-price-like pipeline: one-hot + imputation + 20 trees)
with `stepline serve` (a uvicorn subprocess, one worker) on 127.0.0.1 and sends single-row
`dataframe_split` requests with httpx over keep-alive connections: first one client (latency),
then N client threads (throughput). For reference it also times the in-process
`PackagedModel.predict` on the same rows, the floor the HTTP figures sit on.
Prints a table and writes bench/results/serving.json.

Peer: when a Python with MLflow is available ($STEPLINE_BENCH_MLFLOW_PYTHON, or the peers venv
of bench/peers.sh), the same package is also served by `mlflow models serve --env-manager local`
and measured the same way.

The server runs in its own process: a uvicorn thread inside the client's process shares the
GIL with the client and measures thread hand-offs (~45 ms per request here), not serving.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from stepline.models import load, save
from stepline.models.serving import free_port

RESULTS = Path(__file__).parent / "results" / "serving.json"
GROUPS = ["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"]


def build(n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "neighbourhood_group": rng.choice(GROUPS, n),
            "minimum_nights": rng.integers(1, 30, n).astype("int64"),
            "reviews_per_month": rng.gamma(2.0, 1.0, n),
            "availability_365": rng.integers(0, 365, n).astype("int64"),
        }
    )
    frame.loc[::13, "reviews_per_month"] = np.nan
    price = 60 + 50 * (frame["neighbourhood_group"] == "Manhattan") + rng.normal(0, 10, n)
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["neighbourhood_group"]),
            (
                "num",
                SimpleImputer(strategy="median"),
                ["minimum_nights", "reviews_per_month", "availability_365"],
            ),
        ]
    )
    model = make_pipeline(pre, RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0))
    return frame, model.fit(frame, price)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_save_load(model, frame, fmt: str, root: Path, repeats: int = 5) -> dict:
    saves, loads = [], []
    size = 0
    for i in range(repeats):
        target = root / f"{fmt}-{i}"
        t0 = time.perf_counter()
        save(model, target, input_example=frame.iloc[:2], serialization=fmt)
        saves.append(time.perf_counter() - t0)
        size = sum(p.stat().st_size for p in target.glob("model.*"))
        t0 = time.perf_counter()
        load(target, trust=fmt != "skops")
        loads.append(time.perf_counter() - t0)
    return {
        "format": fmt,
        "save_ms": statistics.median(saves) * 1000,
        "load_ms": statistics.median(loads) * 1000,
        "model_file_bytes": size,
    }


def body_for(row: pd.DataFrame) -> bytes:
    split = json.loads(row.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split}).encode()


def run_client(url: str, bodies: list[bytes], latencies: list[float]) -> None:
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers) as client:
        for body in bodies:
            t0 = time.perf_counter()
            resp = client.post("/invocations", content=body)
            latencies.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                raise RuntimeError(resp.text)


def mlflow_python() -> str | None:
    """A Python with MLflow for the peer figures, if one is available."""
    given = os.environ.get("STEPLINE_BENCH_MLFLOW_PYTHON")
    if given:
        return given
    try:
        from _common import peer_python

        return peer_python()
    except ImportError:
        return None


def stepline_command(package: Path, port: int) -> tuple[list[str], dict[str, str]]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "stepline.cli.models", "serve", str(package)]
    return [*cmd, "--port", str(port), "--log-level", "warning"], env


def mlflow_command(python: str, package: Path, port: int) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # mlflow execs `uvicorn` from PATH: make it the venv's
    env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
    env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    cmd = [python, "-m", "mlflow", "models", "serve", "-m", str(package)]
    return [*cmd, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)], env


@contextmanager
def serve_subprocess(command: tuple[list[str], dict[str, str]], port: int):
    cmd, env = command
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {cmd}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def summary(name: str, lat: list[float], wall: float | None) -> dict:
    return {
        "mode": name,
        "requests": len(lat),
        "requests_per_s": (len(lat) / wall) if wall else 1 / statistics.mean(lat),
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
    }


def load_test(label: str, url: str, bodies: list[bytes], concurrency: int) -> list[dict]:
    run_client(url, bodies[:100], [])  # warm-up
    sequential: list[float] = []
    t0 = time.perf_counter()
    run_client(url, bodies, sequential)
    seq_wall = time.perf_counter() - t0
    concurrent: list[float] = []
    share = [bodies[i::concurrency] for i in range(concurrency)]
    threads = [threading.Thread(target=run_client, args=(url, s, concurrent)) for s in share]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conc_wall = time.perf_counter() - t0
    return [
        summary(f"{label}, 1 client", sequential, seq_wall),
        summary(f"{label}, {concurrency} clients", concurrent, conc_wall),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    frame, model = build()
    tmp = tempfile.TemporaryDirectory()
    root = Path(tmp.name)
    persistence = [time_save_load(model, frame, fmt, root) for fmt in ("skops", "pickle")]
    package = root / "skops-0"
    packaged = load(package)

    rows = [frame.iloc[[i % len(frame)]] for i in range(args.requests)]
    bodies = [body_for(r) for r in rows]

    direct = []
    for r in rows[:500]:
        t0 = time.perf_counter()
        packaged.predict(r)
        direct.append(time.perf_counter() - t0)

    serving = [summary("in-process predict (no HTTP)", direct, None)]
    peer = mlflow_python()
    servers = [("stepline serve", lambda port: stepline_command(package, port))]
    if peer:
        servers.append(("mlflow models serve", lambda port: mlflow_command(peer, package, port)))
    for label, make in servers:
        port = free_port()
        with serve_subprocess(make(port), port) as url:
            serving.extend(load_test(label, url, bodies, args.concurrency))
    tmp.cleanup()

    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "model": "ColumnTransformer(one-hot, imputer) + RandomForestRegressor(20 trees, depth 8)",
        "payload": "one row, dataframe_split, keep-alive httpx, servers on 127.0.0.1",
        "serving": serving,
        "persistence": persistence,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{'mode':38} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for s in serving:
        print(f"{s['mode']:38} {s['requests_per_s']:8.0f} {s['p50_ms']:8.2f} {s['p99_ms']:8.2f}")
    if not peer:
        print("(no MLflow peer: set STEPLINE_BENCH_MLFLOW_PYTHON to a Python with mlflow)")
    print()
    print(f"{'format':10} {'save ms':>9} {'load ms':>9} {'bytes':>9}")
    for p in persistence:
        print(
            f"{p['format']:10} {p['save_ms']:9.1f} {p['load_ms']:9.1f} {p['model_file_bytes']:9d}"
        )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
