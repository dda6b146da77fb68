"""Drift of a wide table, against Evidently on the same data; capture overhead on /invocations.

    PYTHONPATH=src python bench/monitor.py [--rows 356000] [--columns 100] [--requests 2000]

1. Drift: a reference and a current table of ROWS × COLUMNS (nine numeric columns in ten,
   the rest categorical; a third of the columns shifted in the current one), compared with
   `stepline.monitor.drift.compare` (both tables profiled, then compared), and again from a
   stored reference profile (what `stepline monitor` does). The peer is Evidently's
   DataDriftPreset on the same tables (the user in evidently#763 waited 23 minutes for 100
   such columns): it runs in the Python of $STEPLINE_BENCH_EVIDENTLY_PYTHON (a venv with
   `pip install evidently`; it does not install next to pandas 3), which regenerates the
   same tables from the same seed (checked by a checksum). Both sides' drifted columns are
   compared, and the largest difference of their scores is shown. stepline's figure follows
   a warm-up on 2,000 rows (the one-time scipy imports).
2. Capture: `stepline serve` (a subprocess, one worker) without and with `--capture` (every
   request sampled, windows of 1000 rows), four clients sending one-row requests; the rounds
   alternate, and the best round of each is kept.

Prints a table and writes bench/results/monitor.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

GROUPS = ["a", "b", "c", "d", "e", "f", "g", "h"]


def tables(rows: int, columns: int, seed: int = 0) -> tuple[Any, Any]:
    """Reference and current tables; every third column is shifted in the current one."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    for j in range(columns):
        shift = j % 3 == 0
        if j % 10 == 9:
            p = np.full(len(GROUPS), 1 / len(GROUPS))
            q = np.roll(p * np.linspace(0.5, 1.5, len(GROUPS)), 1) if shift else p
            q = q / q.sum()
            ref[f"c{j}"] = np.array(GROUPS, dtype=object)[rng.choice(len(GROUPS), rows, p=p)]
            cur[f"c{j}"] = np.array(GROUPS, dtype=object)[rng.choice(len(GROUPS), rows, p=q)]
        else:
            ref[f"x{j}"] = rng.normal(0.0, 1.0, rows)
            cur[f"x{j}"] = rng.normal(0.3 if shift else 0.0, 1.0, rows)
    return pd.DataFrame(ref), pd.DataFrame(cur)


def checksum(frame: Any) -> str:
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame.iloc[::997], index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def evidently_side(rows: int, columns: int, out: Path) -> None:
    """Run in Evidently's Python: time DataDriftPreset on the same tables, write JSON."""
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, cur = tables(rows, columns)
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    result = snapshot.dict()
    seconds = time.perf_counter() - t0
    scores: dict[str, Any] = {}
    share = None
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            scores[config["column"]] = {
                "method": config.get("method"),
                "score": float(metric["value"]),
                "threshold": config.get("threshold"),
            }
        elif config.get("type", "").endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    out.write_text(
        json.dumps(
            {
                "version": evidently.__version__,
                "seconds": seconds,
                "checksum": checksum(ref) + checksum(cur),
                "share": share,
                "scores": scores,
            }
        )
    )


def run_evidently(rows: int, columns: int, timeout: float) -> dict[str, Any]:
    python = os.environ.get("STEPLINE_BENCH_EVIDENTLY_PYTHON")
    if not python:
        return {"skipped": "set STEPLINE_BENCH_EVIDENTLY_PYTHON to a Python with evidently"}
    probe = subprocess.run([python, "-c", "import evidently"], capture_output=True, text=True)
    if probe.returncode != 0:
        return {"skipped": f"evidently does not import: {probe.stderr.strip().splitlines()[-1]}"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "evidently.json"
        cmd = [python, __file__, "--evidently-side", str(out)]
        cmd += ["--rows", str(rows), "--columns", str(columns)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        try:
            subprocess.run(cmd, check=True, env=env, timeout=timeout, capture_output=True)
        except subprocess.TimeoutExpired:
            return {"timeout": timeout}
        except subprocess.CalledProcessError as exc:
            return {"skipped": f"evidently failed: {exc.stderr.decode()[-300:]}"}
        return dict(json.loads(out.read_text()))


def drift_bench(rows: int, columns: int, timeout: float) -> list[dict[str, Any]]:
    from stepline.monitor.drift import compare
    from stepline.monitor.profile import profile_frame

    ref, cur = tables(rows, columns)
    compare(ref.iloc[:2000], cur.iloc[:2000])  # warm-up: scipy's imports are not drift
    t0 = time.perf_counter()
    report = compare(ref, cur)
    both = time.perf_counter() - t0
    reference = profile_frame(ref)
    t0 = time.perf_counter()
    from_profile = compare(reference, cur)
    one = time.perf_counter() - t0
    assert from_profile.drifted_columns == report.drifted_columns
    peer = run_evidently(rows, columns, timeout)
    shape = f"{rows:,} × {columns}"
    out = [
        {
            "case": f"drift, {shape}, two tables",
            "stepline": f"{both:.2f} s",
            "seconds": both,
            "drifted": len(report.drifted_columns),
            "target": "≤ 10 s",
            "ok": both <= 10,
        },
        {
            "case": f"drift, {shape}, stored reference profile",
            "stepline": f"{one:.2f} s",
            "seconds": one,
            "target": "≤ 10 s",
            "ok": one <= 10,
        },
    ]
    row = out[0]
    if "seconds" in peer:
        theirs = peer["scores"]
        ours = {f.column: f for f in report.features}
        same_data = peer["checksum"] == checksum(ref) + checksum(cur)
        agree = sum(
            (theirs[c]["score"] >= theirs[c]["threshold"]) == ours[c].drifted
            for c in theirs
            if c in ours and theirs[c]["threshold"] is not None
        )
        diff = max(abs(theirs[c]["score"] - ours[c].score) for c in theirs if c in ours)
        row.update(
            reference=f"Evidently {peer['version']}: {peer['seconds']:.1f} s",
            peer_seconds=peer["seconds"],
            ratio=peer["seconds"] / both,
            same_data=same_data,
            verdicts_agree=f"{agree}/{len(theirs)}",
            max_score_difference=diff,
            peer_share=peer["share"],
            share=report.share,
        )
    elif "timeout" in peer:
        row.update(reference=f"Evidently: > {peer['timeout']:.0f} s (stopped)")
    else:
        row.update(reference=f"Evidently: not run ({peer['skipped']})")
    return out


def capture_bench(requests: int, concurrency: int, rounds: int) -> list[dict[str, Any]]:
    from serving import body_for, build, load_test, serve_subprocess, stepline_command

    from stepline.models import save
    from stepline.models.serving import free_port

    frame, model = build()
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "model"
        save(model, package, input_example=frame.iloc[:2], reference_data=frame)
        bodies = [body_for(frame.iloc[[i % len(frame)]]) for i in range(requests)]
        best: dict[str, float] = {}
        for _ in range(rounds):
            for label, extra in (
                ("without capture", []),
                ("with --capture", ["--capture", "--window-rows", "1000"]),
            ):
                port = free_port()
                cmd, env = stepline_command(package, port)
                env = {**env, "STEPLINE_DIR": str(Path(tmp) / ".stepline")}
                with serve_subprocess(([*cmd, "--env-manager", "local", *extra], env), port) as url:
                    rate = load_test(label, url, bodies, concurrency)[1]["requests_per_s"]
                best[label] = max(best.get(label, 0.0), rate)
    plain, captured = best["without capture"], best["with --capture"]
    overhead = 1 - captured / plain
    return [
        {
            "case": f"/invocations req/s, {concurrency} clients, with --capture (sample 1.0)",
            "stepline": f"{captured:.0f} req/s",
            "reference": f"without capture: {plain:.0f} req/s",
            "ratio": captured / plain,
            "overhead": overhead,
            "target": "overhead ≤ 5 %",
            "ok": overhead <= 0.05,
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=356_000)
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--evidently-timeout", type=float, default=2400)
    parser.add_argument("--skip-capture", action="store_true")
    parser.add_argument("--skip-drift", action="store_true")
    parser.add_argument("--evidently-side", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.evidently_side:
        evidently_side(args.rows, args.columns, args.evidently_side)
        return
    from _common import report

    rows = [] if args.skip_capture else capture_bench(args.requests, args.concurrency, args.rounds)
    if not args.skip_drift:
        rows = drift_bench(args.rows, args.columns, args.evidently_timeout) + rows
    report("monitor", rows)
    for row in rows:
        if "verdicts_agree" in row:
            print(
                f"Evidently and stepline agree on {row['verdicts_agree']} columns' verdicts "
                f"(same data: {row['same_data']}); largest score difference "
                f"{row['max_score_difference']:.4f}; drifted share {row['share']:.2f} vs "
                f"{row['peer_share']:.2f}"
            )


if __name__ == "__main__":
    main()
