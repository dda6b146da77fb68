#!/usr/bin/env python
"""Component and environment benchmarks, against `mlflow run` where mlflow can be installed.

    python bench/components.py [--runs 10] [--skip-mlflow] [--skip-cold]

Prints a table and writes bench/results/components.json. Measured:
- a no-op component (`python -c pass`) on an already-built env, per run, tracking included;
- resolving + activating an already-built env;
- building a pandas + scikit-learn env from its cached lock: uv's package cache warm with no
  earlier env (everything byte-compiled), warm with an earlier env holding those packages
  (its .pyc files are shared), and cold (an empty uv cache: downloads + compile);
- `mlflow run . --env-manager local` of the same trivial step (mlflow in its own venv in /tmp).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from stepline.envs.uv import uv_bin  # noqa: E402

NOOP_MLPROJECT = """name: noop
python_env: python_env.yaml
entry_points:
  main:
    command: "python -c pass"
"""
ML_SPEC = "dependencies:\n  - pandas==2.3.2\n  - scikit-learn==1.7.2\n"


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def bench_noop(work: Path, runs: int) -> dict[str, float]:
    from stepline.backends import reset
    from stepline.components import execute, prepare
    from stepline.envs.manager import activate, plan_env

    comp = work / "noop"
    comp.mkdir()
    (comp / "MLproject").write_text(NOOP_MLPROJECT)
    (comp / "python_env.yaml").write_text("dependencies:\n  - tomli==2.0.1\n")
    os.environ["STEPLINE_DIR"] = str(work / ".stepline")
    reset()
    step = prepare(comp)
    execute(step)  # builds the env and warms the store
    per_run: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = execute(prepare(comp))
        per_run.append(time.perf_counter() - t0)
        assert result.status == "finished"
    activate_times: list[float] = []
    from stepline.components.mlproject import load_project

    for _ in range(runs):
        t0 = time.perf_counter()
        activate(plan_env(load_project(comp).env), component="noop")
        activate_times.append(time.perf_counter() - t0)
    return {
        "noop_run_ms": median_ms(per_run),
        "resolve_activate_ms": median_ms(activate_times),
    }


def bench_ml_build(work: Path, cold: bool) -> dict[str, float]:
    """Lock once, then time building the env from the cached lock (warm, optionally cold)."""
    from stepline.envs.build import build_env, env_digest, runtime_env
    from stepline.envs.interpreters import select
    from stepline.envs.lock import resolve_lock
    from stepline.envs.spec import load_spec

    spec_dir = work / "ml"
    spec_dir.mkdir()
    (spec_dir / "python_env.yaml").write_text(ML_SPEC)
    spec = load_spec(spec_dir / "python_env.yaml")
    interp = select(spec.python)
    t0 = time.perf_counter()
    lock = resolve_lock(spec, interp)
    lock_s = time.perf_counter() - t0
    runtime = runtime_env(interp)
    out: dict[str, float] = {"ml_lock_s": round(lock_s, 2)}

    def one_build() -> float:
        target = Path(os.environ["STEPLINE_CACHE_DIR"]) / "envs" / env_digest(lock)
        shutil.rmtree(target, ignore_errors=True)
        t = time.perf_counter()
        built = build_env(lock, runtime=runtime)
        assert built.built_now
        return time.perf_counter() - t

    pyc_store = Path(os.environ["STEPLINE_CACHE_DIR"]) / "pyc"
    one_build()  # make sure uv's cache holds every wheel
    shutil.rmtree(pyc_store, ignore_errors=True)
    out["ml_build_first_s"] = round(one_build(), 2)  # uv cache warm, nothing compiled yet
    out["ml_build_warm_s"] = round(min(one_build() for _ in range(2)), 2)  # .pyc shared
    if cold:
        with tempfile.TemporaryDirectory(prefix="uv-cold-") as uv_cache:
            os.environ["UV_CACHE_DIR"] = uv_cache
            try:
                out["ml_build_cold_s"] = round(one_build(), 2)
            finally:
                os.environ.pop("UV_CACHE_DIR", None)
    return out


def bench_mlflow(work: Path, runs: int) -> dict[str, float | str]:
    venv = Path(tempfile.gettempdir()) / "stepline-bench-mlflow-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([uv_bin(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        proc = subprocess.run(
            [uv_bin(), "pip", "install", "-q", "--python", str(py), "mlflow"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            return {"mlflow": f"not installable: {proc.stderr.strip().splitlines()[-1:]}"}
    version = subprocess.run(
        [str(py), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    comp = work / "mlflow_noop"
    comp.mkdir()
    (comp / "MLproject").write_text(
        'name: noop\nentry_points:\n  main:\n    command: "python -c pass"\n'
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    env.pop("PYTHONPATH", None)
    samples: list[float] = []
    for i in range(max(3, runs // 3) + 1):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(venv / "bin" / "mlflow"), "run", ".", "--env-manager", "local"],
            cwd=comp,
            env=env,
            capture_output=True,
            text=True,
        )
        if i > 0:  # the first run creates the tracking database
            samples.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return {"mlflow": f"failed: {proc.stderr.strip().splitlines()[-1:]}"}
    return {"mlflow_version": version, "mlflow_run_local_ms": median_ms(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-build", action="store_true", help="Keep earlier build figures.")
    args = parser.parse_args()
    target = HERE / "results" / "components.json"
    results: dict[str, object] = {}
    if target.exists():  # figures of parts skipped this time are kept
        results.update(json.loads(target.read_text()))
    results |= {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "uv": subprocess.run(
            [uv_bin(), "--version"], capture_output=True, text=True
        ).stdout.strip(),
    }
    with tempfile.TemporaryDirectory(prefix="stepline-bench-") as tmp:
        work = Path(tmp)
        os.environ["STEPLINE_CACHE_DIR"] = str(work / "cache")
        results.update(bench_noop(work, args.runs))
        if not args.skip_build:
            results.update(bench_ml_build(work, cold=not args.skip_cold))
        if not args.skip_mlflow:
            for key in ("mlflow", "mlflow_version", "mlflow_run_local_ms"):
                results.pop(key, None)
            results.update(bench_mlflow(work, args.runs))
    rows = [
        ("no-op component on a built env, per run (tracking incl.)", "noop_run_ms", "ms", "≤ 250"),
        ("resolve + activate a built env", "resolve_activate_ms", "ms", "≤ 50"),
        ("pandas+scikit-learn: resolve lock (uv pip compile)", "ml_lock_s", "s", ""),
        ("pandas+scikit-learn: build env, uv cache warm, first env", "ml_build_first_s", "s", ""),
        ("pandas+scikit-learn: build env, uv cache warm", "ml_build_warm_s", "s", "≤ 1.5"),
        ("pandas+scikit-learn: build env, uv cache cold", "ml_build_cold_s", "s", "report"),
        ("mlflow run . --env-manager local (trivial step)", "mlflow_run_local_ms", "ms", "peer"),
    ]
    print(f"{'measure':60} {'value':>10}  target")
    for label, key, unit, goal in rows:
        if key in results:
            print(f"{label:60} {results[key]:>8} {unit}  {goal}")
    if "mlflow_run_local_ms" in results:
        ratio = float(results["mlflow_run_local_ms"]) / float(results["noop_run_ms"])  # type: ignore[arg-type]
        results["speedup_vs_mlflow_local"] = round(ratio, 1)
        print(f"{'no-op speed-up over mlflow run --env-manager local':60} {ratio:>8.1f} x  ≥ 12")
    elif "mlflow" in results:
        print(f"mlflow: {results['mlflow']}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
