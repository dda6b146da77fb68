"""What the reliability suite's child processes do until they are killed (or finish).

Each function runs in a process forked by `_zygote.py`, with `STEPLINE_DIR` set, and writes a
`ready` file once its run exists, so the test knows when to start the clock.
"""

from __future__ import annotations

import json
import os
import random
import time
import traceback
from pathlib import Path

import stepline

SHARED = 12  # contents every writer of `versions` may log: identical across processes


def shared_content(k: int) -> bytes:
    return f"shared content {k}\n".encode() * 50


def versions(ready: str, result: str, me: int, count: int, seed: int) -> None:
    """Log `count` versions of artifact `shared`: a mix of shared contents and new ones."""
    rng = random.Random(seed)
    out = Path(result)
    try:
        run = stepline.init(project="p", job_type="writer")
        Path(ready).write_text(run.id)
        folder = out.parent / f"w{me}"
        folder.mkdir(parents=True, exist_ok=True)
        logged = []
        for i in range(count):
            if rng.random() < 0.5:
                key = f"shared-{rng.randrange(SHARED)}"
                data = shared_content(int(key.split("-")[1]))
            else:
                key = f"new-{me}-{i}"
                data = f"writer {me} iteration {i}\n".encode() * 50
            path = folder / "content.txt"
            path.write_bytes(data)
            art = stepline.Artifact("shared", "data")
            art.add_file(str(path))
            run.log_artifact(art)
            logged.append([key, int(art.version[1:]), art.digest])
        run.finish()
        out.write_text(json.dumps(logged))
    except BaseException:
        out.with_suffix(".error").write_text(traceback.format_exc())


def artifacts(ready: str, data: str, seed: int) -> None:
    """Log versions of `blob` (8 files, some identical to earlier ones, some new) forever."""
    rng = random.Random(seed)
    run = stepline.init(project="p", job_type="writer")
    Path(ready).write_text(run.id)
    folder = Path(data)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for j in range(8):
            if rng.random() < 0.3:
                content = shared_content(j)
            else:
                content = os.urandom(rng.randint(1_000, 400_000))
            (folder / f"f{j}.bin").write_bytes(content)
        art = stepline.Artifact("blob", "data")
        art.add_dir(str(folder))
        run.log_artifact(art)


def metrics(ready: str) -> None:
    """Log a point (with its wall-clock time) about every half millisecond, forever."""
    run = stepline.init(project="p", job_type="logger")
    Path(ready).write_text(run.id)
    i = 0
    while True:
        run.log({"t": time.time(), "i": i})
        i += 1
        time.sleep(0.0005)


def pipeline(ready: str, path: str, seed: int) -> None:
    """Run the one-step pipeline at `path` with config `seed` (a new cache key each time)."""
    from stepline.pipeline.run import run_pipeline
    from stepline.pipeline.spec import load_pipeline
    from stepline.pipeline.tracking import CoreTracker

    spec = load_pipeline(path, [f"seed={seed}"])
    Path(ready).write_text("started")
    run_pipeline(spec, tracker=CoreTracker(), jobs=1)


#: the pipeline's one component: logs metrics for a while, then an artifact of four files
TRAIN = """
import os, sys, time
from pathlib import Path
import stepline

run = stepline.init()
for i in range(150):
    run.log({"t": time.time(), "i": i})
    time.sleep(0.002)
out = Path(os.environ["STEPLINE_DIR"]).parent / f"model-{os.getpid()}"
out.mkdir()
for j in range(4):
    (out / f"part{j}.bin").write_bytes(os.urandom(200_000))
art = stepline.Artifact("model", "model")
art.add_dir(str(out))
run.log_artifact(art)
"""
