"""The rental-price example on the two-node Ray cluster gives what the local executor gives.

`stepline run examples/rental_prices` from the real CLI, once with the local executor and once
with `--executor ray --address <the module's cluster>`, each into a store of its own, the
components' uv envs built once in a cache the two runs share (so the second build is a lookup,
as on a cluster whose nodes share a filesystem). The data versions must have the same digests
and the test step the same metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import stepline
from stepline.backends import get_backend

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "rental_prices"
CLI = "import sys; from stepline.cli import main; main(sys.argv[1:])"
DATA = ("sample.csv", "clean_sample.csv", "trainval_data.csv", "test_data.csv")


def run_example(workdir: Path, cache: Path, sample: Path, *args: str) -> dict[str, Any]:
    """`stepline run examples/rental_prices --json` from `workdir`, with its store there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPLINE_", "WANDB_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env |= {
        "STEPLINE_DIR": str(workdir / ".stepline"),
        "STEPLINE_CACHE_DIR": str(cache),
        "STEPLINE_ARTIFACT_DIR": str(workdir / "artifacts"),
        "MPLBACKEND": "Agg",
    }
    overrides = [f"etl.sample={sample}", "data_check.min_rows=1000"]
    overrides.append("modeling.random_forest.n_estimators=30")
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "run", str(EXAMPLE), "--json", *overrides, *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    body: dict[str, Any] = json.loads(proc.stdout[proc.stdout.index("{") :])
    return body


def facts(workdir: Path, body: dict[str, Any]) -> tuple[dict[str, str], dict[str, float], set]:
    """The data versions' digests, the test step's metrics, the executors its runs name."""
    api = stepline.Api(backend=get_backend(workdir / ".stepline"))
    steps = body["steps"]
    assert {s["state"] for s in steps.values()} == {"finished"}, steps
    digests = {name: api.artifact(f"nyc_airbnb/{name}:latest").digest for name in DATA}
    tested = api.run(steps["test_regression_model"]["run_id"]).summary
    metrics = {k: float(tested[k]) for k in ("r2", "mae")}
    executors = {
        api.run(s["run_id"]).info.get("executor", {}).get("name", "local") for s in steps.values()
    }
    return digests, metrics, executors


def test_rental_prices_on_ray_gives_the_local_executors_data_and_metrics(
    tmp_path: Path, ray_cluster: Any
) -> None:
    sample = tmp_path / "small.csv"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "data" / "generate.py"), "--variant", "1",
         "--rows", "3000", "--out", str(sample)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cache = tmp_path / "env-cache"
    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    local = facts(tmp_path / "local", run_example(tmp_path / "local", cache, sample))
    address = ray_cluster.get_runtime_context().gcs_address
    on_ray = run_example(tmp_path / "ray", cache, sample, "--executor", "ray", "--address", address)
    ray_facts = facts(tmp_path / "ray", on_ray)
    assert local[2] == {"local"} and ray_facts[2] == {"ray"}
    assert ray_facts[0] == local[0]  # the same data versions, byte for byte
    assert ray_facts[1] == pytest.approx(local[1], rel=1e-9)  # the same test metrics
    assert local[1]["r2"] > 0.3
