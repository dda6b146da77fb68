"""`python -m stepline.ui.data.warm`: read one metric's whole series into its parsed-arrays file.

The UI starts it (`series.WARM`) after serving a long metric's chart preview, with a JSON job on
stdin: `{"url": database URL, "run_id", "key", "out": the .npy path}`. Parsing a million steps of
history holds the interpreter for seconds; in its own process it leaves the server's threads free
to answer the zooms that come meanwhile.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def main() -> int:
    from stepline.metadata.engine import create_engine
    from stepline.ui.data import series

    os.nice(10)  # the server's requests come first
    job = json.loads(sys.stdin.read())
    engine = create_engine(str(job["url"]))
    try:
        pairs = series._parse(SimpleNamespace(engine=engine), str(job["run_id"]), str(job["key"]))
    finally:
        engine.dispose()
    out = Path(job["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, pairs, allow_pickle=False)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
