"""The rental-price example's MLOps loop, as a user runs it: train, serve with capture, monitor
the drift, and let the drift trigger re-train, test and promote, with the reason in lineage.

    stepline run examples/rental_prices
    stepline serve random_forest_export:prod --capture      # rows of sample2.csv arrive
    stepline monitor random_forest_export:prod --window last     # exits 7: drift
    stepline watch examples/rental_prices --once           # re-train on sample2, test, promote

Real subprocesses, real HTTP on loopback, a store in tmp. The pipeline is a copy of the
example's (its components linked) with small-data settings, as in test_pipelines_e2e: 3,000
generated rows of each sample, 30 trees. It takes a few minutes (one cold component env).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from stepline.monitor.runner import DRIFT_EXIT_CODE

from .conftest import EXAMPLES, component_env
from .test_pipelines_e2e import (  # noqa: F401  (fixtures used by name)
    CLI,
    ENV_CACHE,
    env_cache,
    pytestmark,
)

RENTAL = EXAMPLES / "rental_prices"
PROJECT = yaml.safe_load((RENTAL / "pipeline.yaml").read_text())["project"]
MODEL = f"{PROJECT}/random_forest_export"
#: the columns a listing has when it is sent for a price (the model's input)
FEATURES = [
    "room_type", "neighbourhood_group", "minimum_nights", "number_of_reviews",
    "reviews_per_month", "calculated_host_listings_count", "availability_365", "longitude",
    "latitude", "last_review", "name",
]  # fmt: skip


def env(workdir: Path) -> dict[str, str]:
    out = component_env(workdir / ".stepline", project=PROJECT)
    if ENV_CACHE:
        out["STEPLINE_CACHE_DIR"] = str(ENV_CACHE[-1])
    return out


def stepline(
    args: list[str], workdir: Path, *, ok: tuple[int, ...] = (0,), timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """`stepline ARGS` from `workdir` (the store in it); its exit code must be one of `ok`."""
    proc = subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=workdir, env=env(workdir), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    print(f"$ stepline {' '.join(args)}  -> {proc.returncode}\n{proc.stdout}{proc.stderr[-3000:]}")
    assert proc.returncode in ok, (
        f"stepline {' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
        f"\n--- stderr\n{proc.stderr[-6000:]}"
    )
    return proc


def on(triggers: dict) -> dict:
    """The `on:` mapping of a triggers section (YAML 1.1 reads a bare `on` key as true)."""
    return triggers.get("on") or triggers[True]


def pipeline_copy(root: Path, small1: Path, small2: Path) -> Path:
    """The example's pipeline.yaml with small-data settings, its components linked."""
    spec = yaml.safe_load((RENTAL / "pipeline.yaml").read_text())
    spec["config"]["etl"]["sample"] = str(small1)
    spec["config"]["data_check"]["min_rows"] = 1000
    spec["config"]["modeling"]["random_forest"]["n_estimators"] = 30
    drifted = on(spec["triggers"])["drifted"]
    drifted["overrides"] = [
        f"etl.sample={small2}" if o.startswith("etl.sample=") else o for o in drifted["overrides"]
    ]
    assert f"etl.sample={small2}" in drifted["overrides"], "the trigger re-trains on new data"
    folder = root / "rental_prices"
    folder.mkdir()
    (folder / "components").symlink_to(RENTAL / "components", target_is_directory=True)
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def wait_up(url: str, proc: subprocess.Popen[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited {proc.returncode}: {proc.communicate()}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not start")


def serve_rows(workdir: Path, rows: pd.DataFrame) -> list[float]:
    """`stepline serve MODEL:prod --capture` on a free loopback port; post `rows`; stop it."""
    from stepline.models.serving import free_port

    port = free_port()
    cmd = [sys.executable, "-c", CLI, "serve", f"{MODEL}:prod", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--capture"],  # in the env the package pins, as a user serves it
        cwd=workdir, env=env(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    predictions: list[float] = []
    try:
        wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=60) as client:
            for start in range(0, len(rows), 50):
                chunk = rows.iloc[start : start + 50]
                records = json.loads(chunk.to_json(orient="records"))
                resp = client.post("/invocations", json={"dataframe_records": records})
                assert resp.status_code == 200, resp.text
                predictions += resp.json()["predictions"]
    finally:
        proc.send_signal(signal.SIGINT)  # the open capture window is stored on shutdown
        out, err = proc.communicate(timeout=120)
    print(f"$ stepline serve ... -> {proc.returncode}\n{out}{err[-2000:]}")
    return predictions


def test_drift_of_served_rows_retrains_tests_and_promotes_by_policy(
    tmp_path: Path, small_samples: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stepline as sl
    from stepline.backends import get_backend

    small1, small2 = small_samples
    pipeline = pipeline_copy(tmp_path, small1, small2)
    triggers = yaml.safe_load((pipeline / "pipeline.yaml").read_text())["triggers"]
    threshold = float(on(triggers)["drifted"]["threshold"])
    policy = triggers["promote"]

    # 1. the example's normal run: trains on sample1, the first export becomes prod
    stepline(["run", str(pipeline)], tmp_path)
    monkeypatch.setenv("STEPLINE_ARTIFACT_DIR", str(tmp_path / "artifacts"))  # as components
    api = sl.Api(backend=get_backend(tmp_path / ".stepline"))
    before = api.artifact(f"{MODEL}:prod")
    assert before.version == "v0"

    # 2. serve prod with capture, send listings of the shifted market (sample2.csv)
    rows = pd.read_csv(RENTAL / "data" / "sample2.csv", usecols=FEATURES).dropna().head(400)
    predictions = serve_rows(tmp_path, rows[FEATURES])
    assert len(predictions) == len(rows)
    windows = api.artifact_versions(f"{MODEL}.capture")
    assert windows, "the capture window is stored when the server stops"
    assert sum(v.metadata["rows"] for v in windows) == len(rows)
    assert windows[-1].type == "profile"

    # 3. stepline monitor flags the drift (exit code 7) on its default threshold, and the share
    # is above the one the trigger fires at
    mon = stepline(
        ["monitor", f"{MODEL}:prod", "--window", "last", "--json"], tmp_path, ok=(DRIFT_EXIT_CODE,)
    )
    report = json.loads(mon.stdout)
    assert report["exit_code"] == DRIFT_EXIT_CODE and report["share"] > threshold, report
    drift = api.artifact(report["report"])
    assert drift.type == "drift_report" and {"report.html", "report.json"} <= set(drift.files())

    # 4. the drift trigger: re-train on sample2, test candidate and prod, promote by the policy
    watched = stepline(["watch", str(pipeline), "--once"], tmp_path)
    assert "drifted: random_forest_export:v0: execution" in watched.stdout, watched.stdout
    records = api.runs(PROJECT, filters={"job_type": "trigger"})
    assert len(records) == 1
    record = records[0]
    decision = record.info["decision"]
    assert decision["status"] == "finished" and decision["prod"] == "random_forest_export:v0"
    assert decision["candidate"] == "random_forest_export:v1"
    # why it fired: a drift report above the threshold, the record's input in lineage
    fired = record.used_artifacts()
    assert [a.type for a in fired] == ["drift_report"]
    assert record.info["trigger_share"] > threshold
    # the new runs are triggered_by this record, and the training run by the drift
    triggered = [r for r in api.runs(PROJECT) if (r.info or {}).get("triggered_by")]
    by = {r.info["triggered_by"]["record"] for r in triggered}
    assert by == {str(record.id)}, by
    trained = [r for r in triggered if r.info.get("step") == "train_random_forest"]
    assert trained and all(r.info["triggered_by"]["kind"] == "drift" for r in trained)
    assert {r.info["triggered_by"]["artifact"] for r in trained} == {fired[0].qualified_name}
    roles = {r.info["triggered_by"].get("role") for r in triggered}
    assert {"test candidate", "test prod"} <= roles, roles
    executed = [r for r in triggered if fired[0].qualified_name in
                {a.qualified_name for a in r.used_artifacts()}]  # fmt: skip
    assert executed, "the execution's run has the drift report as an input"

    # 5. the alias moved, or not, as the policy says for the metrics the tests logged
    cand, prod = decision["candidate_metric"], decision["prod_metric"]
    gain = prod - cand if policy["mode"] == "min" else cand - prod
    should = gain >= float(policy["min_improvement"])
    after = api.artifact(f"{MODEL}:prod")
    assert decision["promoted"] is should, decision
    assert after.version == ("v1" if should else "v0"), decision
    print(f"drift share {report['share']:.3f}; {decision['reason']}")
