"""Downloads against `cp -r` of the same tree, in the same run.

    python bench/store.py [--quick]

A download writes a file of the user's own (a reflink where the filesystem can clone, else a copy)
and hashes every byte it writes, so it is compared with `cp -r`, which copies and checks nothing.
Hard links (`STEPLINE_LINK_TYPE=hardlink`, which share the store's copy) are shown for reference.
Each figure is the median of seven rounds, the runs of both sides interleaved, each after a
`sync` so that neither pays for writing back the other's pages (writeback stalls on this kind of
disk make single runs of either side vary by 2x or more; the median of each side is robust to
them, the best of each is shown beside it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import ms, report

ROUNDS = 7


def _tree(root: Path, files: int, size: int) -> None:
    for i in range(files):
        sub = root / f"shard-{i % 8}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"part-{i:04d}.bin").write_bytes(os.urandom(size))


def _timed_cp(src: Path, dest: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dest)], check=True)
    return time.perf_counter() - t


def _timed_download(version: Any, dest: Path, link_type: str) -> float:
    os.environ["STEPLINE_LINK_TYPE"] = link_type
    t = time.perf_counter()
    version.download(dest)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 files instead of 200")
    parser.add_argument(
        "--dir", help="where to work (a folder on XFS/btrfs measures reflinks; default: /tmp)"
    )
    args = parser.parse_args()
    files, size = (40, 2_500_000) if args.quick else (200, 2_500_000)
    with tempfile.TemporaryDirectory(prefix="stepline-bench-store-", dir=args.dir) as tmp:
        work = Path(tmp)
        os.environ["STEPLINE_DIR"] = str(work / ".stepline")
        os.environ["STEPLINE_CACHE_DIR"] = str(work / "cache")
        import stepline

        data = work / "data"
        _tree(data, files, size)
        with stepline.init(project="bench", reinit="create_new") as run:
            art = stepline.Artifact("tree", "data")
            art.add_dir(data)
            run.log_artifact(art)
        version = stepline.Api().artifact("bench/tree:v0")
        os.sync()
        times: dict[str, list[float]] = {"cp": [], "copy": [], "hardlink": []}
        for i in range(ROUNDS + 1):  # round 0 warms the page cache and is dropped
            for case in times:
                dest = work / f"out-{case}"
                shutil.rmtree(dest, ignore_errors=True)
                os.sync()  # each side starts with no dirty pages of the other's to write back
                if case == "cp":
                    took = _timed_cp(version_dir(data), dest)
                else:
                    took = _timed_download(
                        version, dest, "reflink,copy" if case == "copy" else case
                    )
                if i:
                    times[case].append(took)
        for case in times:
            shutil.rmtree(work / f"out-{case}", ignore_errors=True)
    cp, copy, hard = (statistics.median(times[c]) for c in ("cp", "copy", "hardlink"))
    best = {c: min(times[c]) for c in times}
    fs = subprocess.run(
        ["stat", "-f", "-c", "%T", args.dir or tempfile.gettempdir()],
        capture_output=True,
        text=True,
    ).stdout.strip()
    label = f"{files} files x 2.5 MB ({files * size // 1_000_000} MB) on {fs}"
    rows: list[dict[str, Any]] = [
        {
            "case": f"download, {label}, reflink else copy, hashed (median)",
            "filesystem": fs,
            "stepline": f"{ms(copy)} (best {ms(best['copy'])})",
            "reference": f"cp -r {ms(cp)} (best {ms(best['cp'])})",
            "ratio": copy / cp,
            "target": "<= 1.2 x cp -r",
            "ok": copy <= 1.2 * cp,
            "seconds": copy,
            "reference_seconds": cp,
        },
        {
            "case": "  same, STEPLINE_LINK_TYPE=hardlink (shares the store's copy)",
            "stepline": f"{ms(hard)} (best {ms(best['hardlink'])})",
            "reference": f"cp -r {ms(cp)}",
            "ratio": hard / cp,
            "seconds": hard,
            "reference_seconds": cp,
        },
    ]
    report("store", rows)


def version_dir(data: Path) -> Path:
    """The tree `cp -r` copies: the very files the version was logged from."""
    return data


if __name__ == "__main__":
    main()
