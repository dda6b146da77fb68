"""Helpers shared by the benchmarks: timing, tables, JSON output."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best_of(n: int, fn: Callable[[], Any]) -> float:
    return min(timed(fn) for _ in range(n))


def median_of(n: int, fn: Callable[[], Any]) -> float:
    return statistics.median(timed(fn) for _ in range(n))


def run_cmd(cmd: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(
        cmd,
        check=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


_PEER: list[str | None] = []


def peer_python() -> str | None:
    """A Python with wandb and mlflow installed, for peer figures (bench/peers.sh makes one)."""
    if not _PEER:
        candidate = os.environ.get("STEPLINE_BENCH_PEERS", "/tmp/stepline-peers/bin/python")
        ok = (
            Path(candidate).exists()
            and subprocess.run(
                [candidate, "-c", "import wandb, mlflow"], capture_output=True
            ).returncode
            == 0
        )
        _PEER.append(candidate if ok else None)
    return _PEER[0]


def report(name: str, rows: list[dict[str, Any]]) -> None:
    """Print a table and write bench/results/NAME.json."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"stepline bench: {name}", title_justify="left")
    for col in ("case", "stepline", "reference", "ratio", "target", "ok"):
        table.add_column(col)
    for r in rows:
        ratio = r.get("ratio")
        table.add_row(
            r["case"],
            r["stepline"],
            r.get("reference", ""),
            "" if ratio is None else f"{ratio:.2f}",
            r.get("target", ""),
            {True: "yes", False: "NO", None: ""}[r.get("ok")],
        )
    Console(width=160).print(table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps(
            {"python": sys.version.split()[0], "cpus": os.cpu_count(), "rows": rows}, indent=2
        )
    )
    print(f"wrote {out}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
