"""Pipeline benchmarks: an all-cache-hit run, per-step scheduling overhead, a 4x4 sweep.

    PYTHONPATH=src python bench/pipeline.py [--jobs 2] [--overhead-steps 10] [--only course]

Prints a table and writes bench/results/pipeline.json. Runs against the real tracking core and
component runner, in a temporary store (STEPLINE_DIR) that is removed afterwards.

1. cache_hit_6: a 6-step chain whose steps log and read artifacts; the second `stepline run`
   hits the cache for every step. Timed in-process (run_pipeline) and as the whole CLI
   (`python -m`-style subprocess, interpreter start included). Target: <= 1 s.
2. overhead: a chain of no-op steps (`true`) run with --no-cache, on a local env and on a
   pre-built uv env; (wall - sum of the commands' own time) / steps. Target: <= 0.3 s.
3. sweep_4x4_*: a no-op 3-step pipeline swept over a 4x4 grid on `--jobs` workers; wall time
   against the sum of its executed steps' durations; once with every step distinct, once with
   a shared prefix (identical steps run once, the other executions wait and hit the cache).
4. course_root_second_run: "second run of a course-style root, nothing changed". The root is
   tests/fixtures/pipelines/course_old (an old-style `@hydra.main(config_name="config")`
   main.py calling `mlflow.run` per step, real hydra-core in a uv env; a download step reading
   from an http.server on loopback; a training step that writes into its own folder and gets
   a per-run `outputs/<date>/<time>/rf_config.json`). The whole `stepline run .` command is
   timed with every step a hit (target: <= 1 s), against its floor: the same main.py in the
   same env, Hydra and all, with no step selected.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

CHAIN_STEP = """
import sys, pathlib, tempfile, stepline
run = stepline.init()
prev = sys.argv[1]
value = 0
if prev != "none":
    value = int(pathlib.Path(run.use_artifact(prev + ":latest").file()).read_text())
out = pathlib.Path(tempfile.mkdtemp()) / sys.argv[2]
out.write_text(str(value + 1))
art = stepline.Artifact(sys.argv[2], type="data")
art.add_file(str(out))
run.log_artifact(art)
"""


def _component(root: Path, name: str, command: str, params: list[str], env: str | None) -> None:
    d = root / "components" / name
    d.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "name": name,
        "entry_points": {
            "main": {"parameters": {p: {"type": "string"} for p in params}, "command": command}
        },
    }
    if env == "uv":
        (d / "python_env.yaml").write_text(
            yaml.safe_dump(
                {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "dependencies": []}
            )
        )
        doc["python_env"] = "python_env.yaml"
    (d / "MLproject").write_text(yaml.safe_dump(doc))


def _write(root: Path, steps: dict[str, Any], config: dict[str, Any] | None = None) -> Path:
    path = root / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "bench", "project": "bench", "config": config or {}, "steps": steps},
            sort_keys=False,
        )
    )
    return path


def chain_pipeline(root: Path, n: int) -> Path:
    d = root / "components" / "step"
    d.mkdir(parents=True)
    (d / "run.py").write_text(textwrap.dedent(CHAIN_STEP))
    _component(root, "step", "python run.py {prev} {out}", ["prev", "out"], None)
    steps: dict[str, Any] = {}
    for i in range(n):
        prev = f"d{i - 1}.txt" if i else "none"
        steps[f"s{i}"] = {
            "component": "components/step",
            "parameters": {"prev": prev, "out": f"d{i}.txt"},
            "inputs": [f"{prev}:latest"] if i else [],
            "outputs": [f"d{i}.txt"],
            "env_manager": "local",
        }
    return _write(root, steps)


def noop_pipeline(root: Path, n: int, env: str) -> Path:
    _component(root, f"noop_{env}", "true {i}", ["i"], env)
    steps = {
        f"n{i}": {
            "component": f"components/noop_{env}",
            "parameters": {"i": str(i)},
            **({"after": [f"n{i - 1}"]} if i else {}),
            **({"env_manager": "local"} if env == "local" else {}),
        }
        for i in range(n)
    }
    return _write(root, steps)


def sweep_pipeline(root: Path, shared: bool) -> Path:
    """a -> b -> c. Distinct: every step depends on both swept keys (48 steps to run).
    Shared prefix: a and b depend on `a` only, so 4 of each run and the rest hit the cache."""
    comp = "noop_shared" if shared else "noop_distinct"
    _component(root, comp, "true {i}", ["i"], None)
    prefix = "${a}" if shared else "${a}-${c}"
    steps = {
        "a": {
            "component": f"components/{comp}",
            "parameters": {"i": f"a{prefix}"},
            "env_manager": "local",
        },
        "b": {
            "component": f"components/{comp}",
            "parameters": {"i": f"b{prefix}"},
            "after": ["a"],
            "env_manager": "local",
        },
        "c": {
            "component": f"components/{comp}",
            "parameters": {"i": "c${a}-${c}"},
            "after": ["b"],
            "env_manager": "local",
        },
    }
    return _write(root, steps, {"a": 0, "c": 0})


def bench_cache_hit(work: Path) -> dict[str, Any]:
    from stepline.pipeline.run import run_pipeline
    from stepline.pipeline.spec import load_pipeline

    root = work / "cache_hit"
    path = chain_pipeline(root, 6)
    t0 = time.perf_counter()
    first = run_pipeline(load_pipeline(path))
    cold = time.perf_counter() - t0
    assert first.ok, {n: s.reason for n, s in first.steps.items()}
    t0 = time.perf_counter()
    second = run_pipeline(load_pipeline(path))
    warm = time.perf_counter() - t0
    assert {s.state for s in second.steps.values()} == {"cached"}
    cli = [sys.executable, "-c", "from stepline.cli import main; main()", "run", str(path)]

    def whole(env: dict[str, str]) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(cli, capture_output=True, text=True, cwd=root, env=env)
        took = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "cached" in proc.stdout
        return took

    # as this sandbox runs Python (PYTHONDONTWRITEBYTECODE=1: every import compiles), and as
    # an installed wheel runs it (bytecode cached: a pycache prefix, warmed once)
    plain = dict(os.environ)
    compiled = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    compiled["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    no_bytecode = statistics.median(whole(plain) for _ in range(3))
    whole(compiled)
    with_bytecode = statistics.median(whole(compiled) for _ in range(3))
    return {
        "first_run_s": round(cold, 3),
        "all_hit_in_process_s": round(warm, 3),
        "all_hit_cli_no_bytecode_s": round(no_bytecode, 3),
        "all_hit_cli_s": round(with_bytecode, 3),
        "target_s": 1.0,
    }


def bench_overhead(work: Path, n: int) -> dict[str, Any]:
    from stepline.pipeline.run import run_pipeline
    from stepline.pipeline.spec import load_pipeline

    out: dict[str, Any] = {"steps": n}
    t0 = time.perf_counter()
    for _ in range(20):
        subprocess.run(["bash", "-c", "true 0"], check=True)
    bare = (time.perf_counter() - t0) / 20
    out["bare_command_s"] = round(bare, 4)
    for env in ("local", "uv"):
        root = work / f"overhead_{env}"
        path = noop_pipeline(root, n, env)
        warm = run_pipeline(load_pipeline(path), no_cache=True, jobs=1)  # builds the uv env
        assert warm.ok, {k: s.reason for k, s in warm.steps.items()}
        t0 = time.perf_counter()
        res = run_pipeline(load_pipeline(path), no_cache=True, jobs=1)
        wall = time.perf_counter() - t0
        assert res.ok
        out[f"{env}_wall_s"] = round(wall, 3)
        out[f"{env}_per_step_s"] = round((wall - n * bare) / n, 4)
    out["target_s"] = 0.3
    return out


def bench_sweep(work: Path, jobs: int, shared: bool) -> dict[str, Any]:
    from stepline.pipeline.sweep import expand_grid, run_sweep

    root = work / f"sweep_{'shared' if shared else 'distinct'}"
    path = sweep_pipeline(root, shared)
    points = expand_grid(["a=1,2,3,4", "c=1,2,3,4"])
    t0 = time.perf_counter()
    res = run_sweep(path, points, jobs=jobs)
    wall = time.perf_counter() - t0
    assert res.ok
    states = [s for p in res.points if p.result for s in p.result.steps.values()]
    executed = [s for s in states if s.state == "finished"]
    step_sum = sum(s.duration or 0.0 for s in executed)
    return {
        "executions": len(res.points),
        "jobs": jobs,
        "steps_total": len(states),
        "steps_executed": len(executed),
        "steps_cached": sum(1 for s in states if s.state == "cached"),
        "wall_s": round(wall, 3),
        "sum_executed_steps_s": round(step_sum, 3),
        "ideal_s": round(step_sum / jobs, 3),
    }


COURSE_ROOT = ROOT / "tests" / "fixtures" / "pipelines" / "course_old"


def bench_course_root(work: Path) -> dict[str, Any]:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import stepline
    from stepline.pipeline.course import HOOK_DIR

    root = work / "course_old"
    shutil.copytree(COURSE_ROOT, root)
    www = work / "www"
    www.mkdir()
    (www / "sample.csv").write_text("id,price\n" + "".join(f"{i},{i % 300}\n" for i in range(999)))

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """No request log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"etl.file_url=http://127.0.0.1:{server.server_port}/sample.csv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["STEPLINE_CACHE_DIR"] = str(work / "cache")  # envs and the stat cache of this run only
    # the env builder runs `uv`: the one installed beside this interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cli = [sys.executable, "-c", "from stepline.cli import main; main()", "run", ".", "--json"]

    def whole() -> tuple[float, list[str]]:
        t0 = time.perf_counter()
        proc = subprocess.run([*cli, url], capture_output=True, text=True, cwd=root, env=env)
        took = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = json.loads(proc.stdout[proc.stdout.index("{") :])
        return took, [s["state"] for s in out["steps"]]

    try:
        t0 = time.perf_counter()
        _, first = whole()  # builds the root env (hydra-core from PyPI), runs both steps
        cold = time.perf_counter() - t0
        assert first == ["finished", "finished"], first
        runs = [whole() for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
    assert all(states == ["cached", "cached"] for _, states in runs), runs
    pipeline_runs = stepline.Api().runs(None, filters={"info.pipeline": "course"})
    python = Path(pipeline_runs[0].info["env_path"]) / "bin" / "python"
    floor_env = {**env, "PYTHONPATH": str(HOOK_DIR)}
    floor = [str(python), "main.py", "main.steps=none"]

    def bare() -> float:
        t0 = time.perf_counter()
        subprocess.run(floor, check=True, capture_output=True, cwd=root, env=floor_env)
        return time.perf_counter() - t0

    bare()
    floor_s = statistics.median(bare() for _ in range(3))
    return {
        "steps": len(first),
        "first_run_s": round(cold, 3),
        "second_run_cli_s": round(statistics.median(t for t, _ in runs), 3),
        "steps_hit": f"{sum(s == 'cached' for s in runs[0][1])}/{len(first)}",
        "floor_main_py_alone_s": round(floor_s, 3),
        "target_s": 1.0,
    }


def main() -> None:
    """Run the four benchmarks, print a table, write bench/results/pipeline.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--overhead-steps", type=int, default=10)
    parser.add_argument(
        "--only", nargs="*", choices=["cache_hit", "overhead", "sweep", "course"], help="a subset"
    )
    args = parser.parse_args()
    only = set(args.only or ["cache_hit", "overhead", "sweep", "course"])
    work = Path(tempfile.mkdtemp(prefix="stepline-bench-"))
    os.environ["STEPLINE_DIR"] = str(work / "store")
    os.chdir(work)
    try:
        results: dict[str, Any] = {}
        if "cache_hit" in only:
            results["cache_hit_6"] = bench_cache_hit(work)
        if "overhead" in only:
            results["overhead"] = bench_overhead(work, args.overhead_steps)
        if "sweep" in only:
            results["sweep_4x4_distinct"] = bench_sweep(work, args.jobs, shared=False)
            results["sweep_4x4_shared_prefix"] = bench_sweep(work, args.jobs, shared=True)
        if "course" in only:
            results["course_root_second_run"] = bench_course_root(work)
        results["machine"] = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="stepline pipeline benchmarks")
    for col in ("benchmark", "figure", "value"):
        table.add_column(col)
    for name, figures in results.items():
        for k, v in figures.items():
            table.add_row(name, k, str(v))
    Console().print(table)
    dest = ROOT / "bench" / "results" / "pipeline.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
