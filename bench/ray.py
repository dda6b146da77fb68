"""Ray executor benchmarks, with the local executor in the same run as the peer.

    PYTHONPATH=src python bench/ray.py [--steps 10] [--work 0.5] [--single-node]

Prints a table and writes bench/results/ray.json. Starts a two-node Ray cluster on this
machine, as the tests do (tests/pipeline/raycluster.py: a head and one more worker node started
with `ray start`, one CPU each, on loopback), or with `--single-node` one local Ray instance of
2 CPUs; uses a temporary store and cache, removed afterwards.

1. overhead: a chain of `--steps` no-op steps (`true`), --no-cache, one at a time; each
   executor warmed once first. (Ray wall - local wall) / steps is what a step costs on Ray on
   top of the local executor. Target (issue 13): <= 50 ms.
2. sweep_4x4: a 3-step pipeline over a 4x4 grid, every step distinct (48 steps to run), each
   step a Python process that computes for `--work` CPU seconds (a training step's shape),
   then the same with no-op steps (`true`), which measures only the fixed cost of a step.
   Ideal = sum of the executed steps' run times (created -> ended in the store) / cluster
   CPUs; target: wall <= 1.3 x ideal. The local executor with `--jobs` = CPUs runs the same
   sweeps as the peer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

# this file is named ray.py: take its folder off the path so `import ray` finds Ray itself
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import ray  # noqa: E402

sys.path.append(str(HERE))
from _common import ms, report  # noqa: E402
from pipeline import _component, noop_pipeline, sweep_pipeline  # noqa: E402

sys.path.append(str(HERE.parent / "tests" / "pipeline"))
from raycluster import two_node_cluster  # noqa: E402

WORK_STEP = """
import sys, time
start = time.process_time()
while time.process_time() - start < float(sys.argv[1]):
    sum(i * i for i in range(1000))
"""


def work_pipeline(root: Path, seconds: float) -> Path:
    """sweep_pipeline's shape, each step computing for `seconds` of CPU time."""
    path = sweep_pipeline(root, shared=False)
    comp = root / "components" / "noop_distinct"
    (comp / "work.py").write_text(WORK_STEP)
    _component(root, "noop_distinct", f"{sys.executable} work.py {seconds} {{i}}", ["i"], None)
    return path


def overhead(work: Path, n: int, ray_ex: Any) -> dict[str, float]:
    from stepline.pipeline.run import run_pipeline
    from stepline.pipeline.spec import load_pipeline

    path = noop_pipeline(work / "overhead", n, "local")
    walls: dict[str, float] = {}
    for name, kwargs in (("local", {"jobs": 1}), ("ray", {"executor": ray_ex})):
        warm = run_pipeline(load_pipeline(path), no_cache=True, **kwargs)
        assert warm.ok, {k: s.reason for k, s in warm.steps.items()}
        t0 = time.perf_counter()
        res = run_pipeline(load_pipeline(path), no_cache=True, **kwargs)
        walls[name] = time.perf_counter() - t0
        assert res.ok and {s.state for s in res.steps.values()} == {"finished"}
    return walls


def sweep(work: Path, cpus: int, ray_ex: Any, seconds: float) -> dict[str, dict[str, float]]:
    import stepline
    from stepline.pipeline.sweep import expand_grid, run_sweep

    points = expand_grid(["a=1,2,3,4", "c=1,2,3,4"])
    out: dict[str, dict[str, float]] = {}
    for name, kwargs in (("local", {"jobs": cpus}), ("ray", {"executor": ray_ex})):
        root = work / f"sweep_{name}_{seconds}"
        path = work_pipeline(root, seconds) if seconds else sweep_pipeline(root, shared=False)
        t0 = time.perf_counter()
        res = run_sweep(path, points, no_cache=True, **kwargs)
        wall = time.perf_counter() - t0
        assert res.ok
        steps = [s for p in res.points if p.result for s in p.result.steps.values()]
        executed = [s for s in steps if s.state == "finished"]
        assert len(executed) == 48, len(executed)
        # each step's own time as its run records it (created -> ended), the same for both
        # executors; a step's state on Ray also counts the time it waited in Ray's queue
        api = stepline.Api()
        runs = [api.run(s.run_id) for s in executed if s.run_id]
        step_sum = sum((r.ended_at or r.created_at) - r.created_at for r in runs)
        out[name] = {"wall": wall, "sum": step_sum, "ideal": step_sum / cpus}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--work", type=float, default=0.5, help="CPU seconds per sweep step")
    parser.add_argument("--single-node", action="store_true", help="one local Ray instance")
    args = parser.parse_args()
    from stepline.pipeline.ray_executor import RayExecutor
    from stepline.pipeline.tracking import ComponentsRunner

    cpus = 2
    work = Path(tempfile.mkdtemp(prefix="stepline-bench-ray-"))
    os.environ["STEPLINE_DIR"] = str(work / "store")
    os.environ["STEPLINE_CACHE_DIR"] = str(work / "cache")  # no state shared with other runs
    os.chdir(work)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        t0 = time.perf_counter()
        if args.single_node:
            temp = tempfile.mkdtemp(prefix="slbray-", dir="/tmp")
            stack.callback(shutil.rmtree, temp, ignore_errors=True)
            ray.init(
                address="local",
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="WARNING",
                _temp_dir=temp,
            )
            stack.callback(ray.shutdown)
            cluster = f"one local Ray instance, {cpus} CPUs"
        else:
            stack.enter_context(two_node_cluster())
            cluster = "two nodes (ray start), 1 CPU each"
        startup = time.perf_counter() - t0
        ex = RayExecutor(ComponentsRunner())
        stack.callback(ex.shutdown)
        walls = overhead(work, args.steps, ex)
        sweeps = {args.work: sweep(work, cpus, ex, args.work), 0.0: sweep(work, cpus, ex, 0.0)}
    n = args.steps
    per_step = (walls["ray"] - walls["local"]) / n
    rows = [
        {"case": f"cluster start ({cluster}), not counted below", "stepline": f"{startup:.2f} s"},
        {
            "case": f"{n}-step no-op chain, wall (ray | local)",
            "stepline": f"{walls['ray']:.2f} s",
            "reference": f"{walls['local']:.2f} s (local executor)",
            "ratio": walls["ray"] / walls["local"],
        },
        {
            "case": "per-step overhead on Ray over local",
            "stepline": ms(per_step),
            "reference": ms(walls["local"] / n) + " per step (local)",
            "target": "<= 50 ms",
            "ok": per_step <= 0.05,
        },
    ]
    for seconds, sw in sweeps.items():
        kind = f"steps of {seconds:g} CPU s" if seconds else "no-op steps"
        for name in ("ray", "local"):
            s = sw[name]
            rows.append(
                {
                    "case": f"4x4 sweep, 48 {kind}, {cpus} CPUs: {name} wall vs ideal",
                    "stepline": f"{s['wall']:.2f} s",
                    "reference": f"{s['ideal']:.2f} s ideal (steps {s['sum']:.2f} s / {cpus})",
                    "ratio": s["wall"] / s["ideal"],
                    "target": "<= 1.3 x ideal" if name == "ray" else "",
                    "ok": (s["wall"] <= 1.3 * s["ideal"]) if name == "ray" else None,
                }
            )
    report("ray", rows)


if __name__ == "__main__":
    main()
