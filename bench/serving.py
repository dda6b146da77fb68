"""Benchmark: model serving throughput/latency and package save/load time, skops vs pickle.

    PYTHONPATH=src python bench/serving.py [--seconds 6] [--rounds 3] [--concurrency 4]
                                           [--workers 1 2]

Serves a small random forest (a rental-price-like pipeline: one-hot + imputation + 20 trees)
with `stepline serve --capture` (every request captured into profile windows, as `stepline
monitor` reads them) and, as the peer, with `mlflow models serve --env-manager local`: the same
package, the same number of server processes (`--workers` for both, each count in the list),
on 127.0.0.1. Clients send single-row `dataframe_split` bodies (the same bodies to both
servers) over keep-alive connections, one client per process (`http.client`, so the clients
neither share a GIL nor cost more CPU than they must on a 2-core machine): one client
(latency), then N clients (throughput). Each measurement is a warm-up (50 requests a client)
then a fixed time; the servers of one worker count run side by side and are measured in
alternating rounds, and the median round is reported, so a burst of load from elsewhere on the
machine hits both. For reference it also times the in-process `PackagedModel.predict` on the
same rows, the floor the HTTP figures sit on. Prints a table and writes
bench/results/serving.json.

The peer's Python: $STEPLINE_BENCH_MLFLOW_PYTHON, or the peers venv of bench/peers.sh.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

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


def stepline_command(
    package: Path, port: int, extra: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str]]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "stepline.cli.models", "serve", str(package)]
    return [*cmd, "--port", str(port), "--log-level", "warning", *extra], env


def mlflow_command(
    python: str, package: Path, port: int, workers: int = 1
) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # mlflow execs `uvicorn` from PATH: make it the venv's
    env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
    env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    cmd = [python, "-m", "mlflow", "models", "serve", "-m", str(package)]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    return cmd, env


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


WARMUP = 50


def _post(conn: http.client.HTTPConnection, body: bytes) -> None:
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{resp.status}: {answer[:500]!r}")


def _client(url: str, bodies: list[bytes], seconds: float, start: object, out: object) -> None:
    """One client process: warm up, wait for the others, post for `seconds`, report."""
    address = urlsplit(url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    for body in bodies[:WARMUP]:
        _post(conn, body)
    start.wait()  # type: ignore[attr-defined]
    latencies: list[float] = []
    t0 = time.perf_counter()
    end = t0 + seconds
    i = 0
    while time.perf_counter() < end:
        t = time.perf_counter()
        _post(conn, bodies[i % len(bodies)])
        latencies.append(time.perf_counter() - t)
        i += 1
    out.put((latencies, time.perf_counter() - t0))  # type: ignore[attr-defined]
    conn.close()


def measure(url: str, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """Requests per second and latency of `clients` concurrent client processes."""
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(url, bodies[i::clients], seconds, start, out))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=120)
        results = [out.get(timeout=seconds + 120) for _ in procs]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    latencies = [x for lat, _ in results for x in lat]
    wall = max(w for _, w in results)
    return {
        "requests": len(latencies),
        "requests_per_s": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def load_test(label: str, url: str, bodies: list[bytes], concurrency: int, seconds: float = 4):
    """[one client, `concurrency` clients] on `url` (bench/monitor.py's capture overhead)."""
    return [
        {"mode": f"{label}, {n} client{'s' if n > 1 else ''}", **measure(url, bodies, n, seconds)}
        for n in (1, concurrency)
    ]


def median_round(rounds: list[dict]) -> dict:
    """The round with the median requests per second (its latencies with it)."""
    ranked = sorted(rounds, key=lambda r: r["requests_per_s"])
    return {
        **ranked[len(ranked) // 2],
        "rounds_requests_per_s": [r["requests_per_s"] for r in rounds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="server processes, both servers"
    )
    parser.add_argument("--requests", type=int, default=2000, help="distinct request bodies")
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
    serving = [
        {
            "mode": "in-process predict (no HTTP)",
            "workers": None,
            "clients": 1,
            "requests": len(direct),
            "requests_per_s": 1 / statistics.mean(direct),
            "p50_ms": percentile(direct, 50) * 1000,
            "p99_ms": percentile(direct, 99) * 1000,
        }
    ]
    peer = mlflow_python()
    store = {"STEPLINE_DIR": str(root / ".stepline")}  # where the captured windows go
    for workers in args.workers:
        servers = [
            (
                "stepline serve --capture",
                lambda port, w=workers: (
                    stepline_command(
                        package, port, ("--workers", str(w), "--capture", "--env-manager", "local")
                    )[0],
                    {**stepline_command(package, port)[1], **store},
                ),
            )
        ]
        if peer:
            servers.append(
                (
                    "mlflow models serve",
                    lambda port, w=workers: mlflow_command(peer, package, port, w),
                )
            )
        with ExitStack() as stack:
            urls = []
            for _, make in servers:
                port = free_port()
                urls.append(stack.enter_context(serve_subprocess(make(port), port)))
            for clients in (1, args.concurrency):
                rounds: list[list[dict]] = [[] for _ in servers]
                for _ in range(args.rounds):
                    for i, url in enumerate(urls):
                        rounds[i].append(measure(url, bodies, clients, args.seconds))
                for (label, _), measured in zip(servers, rounds, strict=True):
                    row = {"mode": label, "workers": workers, "clients": clients}
                    serving.append({**row, **median_round(measured)})
    tmp.cleanup()

    def peer_of(s: dict) -> dict | None:
        for other in serving:
            if other["mode"] == "mlflow models serve" and (other["workers"], other["clients"]) == (
                s["workers"],
                s["clients"],
            ):
                return other
        return None

    for s in serving:
        other = peer_of(s) if s["mode"].startswith("stepline") else None
        s["vs_mlflow"] = s["requests_per_s"] / other["requests_per_s"] if other else None

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "model": "ColumnTransformer(one-hot, imputer) + RandomForestRegressor(20 trees, depth 8)",
        "payload": "one row, dataframe_split, keep-alive http.client, one process per client, "
        "servers on 127.0.0.1",
        "method": f"{WARMUP} warm-up requests per client, then {args.seconds:g} s; "
        f"{args.rounds} alternating rounds, median round",
        "serving": serving,
        "persistence": persistence,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{'mode':30} {'workers':>7} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs mlflow':>9}  rounds (req/s)"
    )
    for s in serving:
        ratio = f"{s['vs_mlflow']:.2f}x" if s.get("vs_mlflow") else ""
        each = " ".join(f"{r:.0f}" for r in s.get("rounds_requests_per_s", []))
        print(
            f"{s['mode']:30} {s['workers'] or '':>7} {s['clients']:>7} {s['requests_per_s']:8.0f} "
            f"{s['p50_ms']:8.2f} {s['p99_ms']:8.2f} {ratio:>9}  {each}"
        )
    if not peer:
        print("(no MLflow peer: set STEPLINE_BENCH_MLFLOW_PYTHON to a Python with mlflow)")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    print(f"{'format':10} {'save ms':>9} {'load ms':>9} {'bytes':>9}")
    for p in persistence:
        print(
            f"{p['format']:10} {p['save_ms']:9.1f} {p['load_ms']:9.1f} {p['model_file_bytes']:9d}"
        )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
