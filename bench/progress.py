"""What progress reporting costs: storing a folder with no observer (piped CLI, library default)
against the same folder with the terminal's progress bars drawing (`cli/_progress.py`).

`python bench/progress.py [--files N]`. Each case runs in a fresh process with its own store and
stat cache (so nothing is a cache hit), best of 3; the bars draw into a forced terminal on
/dev/null, so their rendering cost is included.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import ms, report

PY = sys.executable

SCRIPT = """
import sys, time
from pathlib import Path
import stepline
data, mode = Path(sys.argv[1]), sys.argv[2]
stepline.init(project="bench", reinit="create_new").finish()  # the one-time imports
def store():
    art = stepline.Artifact("tree", "data")
    art.add_dir(data)
    return art
if mode == "bars":
    from rich.console import Console
    from stepline.cli._progress import live
    console = Console(file=open("/dev/null", "w"), force_terminal=True, width=120)
    t = time.perf_counter()
    with live(console):
        store()
else:
    t = time.perf_counter()
    store()
print(time.perf_counter() - t)
"""


def _tree(root: Path, files: int, size: int) -> None:
    for i in range(files):
        f = root / f"d{i % 16:02d}" / f"f{i:05d}.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(size))


def _once(work: Path, data: Path, mode: str, i: int) -> float:
    env = {
        **os.environ,
        "STEPLINE_DIR": str(work / f"store-{mode}-{i}" / ".stepline"),
        "STEPLINE_CACHE_DIR": str(work / f"cache-{mode}-{i}"),
    }
    out = subprocess.run(
        [PY, "-c", SCRIPT, str(data), mode], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000, help="files of 4 KB (default 5000)")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="stepline-bench-progress-") as tmp:
        work = Path(tmp)
        data = work / "data"
        _tree(data, args.files, 4096)
        plain = min(_once(work, data, "plain", i) for i in range(3))
        bars = min(_once(work, data, "bars", i) for i in range(3))
    rows.append(
        {
            "case": f"store {args.files} files x 4 KB, terminal progress bars",
            "stepline": ms(bars),
            "reference": f"no observer {ms(plain)}",
            "ratio": bars / plain,
            "target": "<= 1.10 x no observer",
            "ok": bars <= 1.10 * plain,
            "seconds": bars,
            "reference_seconds": plain,
        }
    )
    report("progress", rows)


if __name__ == "__main__":
    main()
