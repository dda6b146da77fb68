"""Writers for small shell-command components and pipelines in tmp_path.

The components run for real: `stepline.components.execute` starts `bash -c` in the component
dir, in the current interpreter (no env file, so the `local` env manager: no env build). A
component's command writes files to `$STEPLINE_OUT` (a fresh directory beside the store); then
its `log_outputs.py` logs each file as an artifact of the step's run through the public API,
records which inputs it used, and notes the `STEPLINE_SCOPE` it ran in as `summary.scope`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

LOG_OUTPUTS = '''\
"""Log each file in $STEPLINE_OUT as an artifact of this run; use the refs given as arguments."""
import os, pathlib, shutil, sys
import stepline

run = stepline.init()
for ref in sys.argv[1:]:
    run.use_artifact(ref)
run.summary["scope"] = os.environ.get("STEPLINE_SCOPE", "")
out = pathlib.Path(os.environ["STEPLINE_OUT"])
for f in sorted(out.iterdir()):
    art = stepline.Artifact(f.name, type="data")
    art.add_file(str(f))
    run.log_artifact(art)
shutil.rmtree(out)
'''

# `{` and `}` are the MLproject's parameter braces: none here
PRELUDE = 'export STEPLINE_OUT="$(mktemp -d -p "$(dirname "$STEPLINE_DIR")" out.XXXXXX)"\n'


def component(
    root: Path,
    name: str,
    command: str,
    params: dict[str, Any] | None = None,
    uses: Sequence[str] = (),
) -> Path:
    """A component dir whose `main` runs `command`, then logs what it wrote to `$STEPLINE_OUT`.

    `params` maps name -> default (None: required); `uses` are refs the step reads through
    `use_artifact` (recorded as its inputs, content ignored).
    """
    d = root / "components" / name
    d.mkdir(parents=True, exist_ok=True)
    decl = {
        k: ({"type": "string"} if v is None else {"type": "string", "default": v})
        for k, v in (params or {}).items()
    }
    (d / "log_outputs.py").write_text(LOG_OUTPUTS)
    full = f"{PRELUDE}{command}\npython log_outputs.py {' '.join(uses)}".rstrip()
    (d / "MLproject").write_text(
        yaml.safe_dump(
            {"name": name, "entry_points": {"main": {"parameters": decl, "command": full}}}
        )
    )
    return d


def pipeline(root: Path, steps: dict[str, Any], config: dict[str, Any] | None = None) -> Path:
    path = root / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "demo", "project": "demo", "config": config or {}, "steps": steps},
            sort_keys=False,
        )
    )
    return path


def chain(root: Path) -> Path:
    """make -> double -> report, plus an independent `side` step.

    make writes `$value` to a.txt; double uses a.txt and writes its factor (only) to b.txt, so
    a new a.txt with the same factor gives the same b.txt; report uses b.txt and writes r.txt.
    """
    component(root, "make", 'echo "{value}" > "$STEPLINE_OUT/a.txt"', {"value": None})
    component(
        root,
        "double",
        'echo "{factor}" > "$STEPLINE_OUT/b.txt"',
        {"factor": "2"},
        uses=["a.txt:latest"],
    )
    component(
        root,
        "report",
        'echo report; echo "{note}" > "$STEPLINE_OUT/r.txt"',
        {"note": "x"},
        uses=["b.txt:latest"],
    )
    component(root, "side", 'echo side > "$STEPLINE_OUT/s.txt"', {})
    return pipeline(
        root,
        {
            "make": {
                "component": "components/make",
                "parameters": {"value": "${v}"},
                "outputs": ["a.txt"],
            },
            "double": {
                "component": "components/double",
                "parameters": {"factor": "${f}"},
                "inputs": ["a.txt:latest"],
                "outputs": ["b.txt"],
            },
            "report": {
                "component": "components/report",
                "inputs": ["b.txt:latest"],
                "outputs": ["r.txt"],
            },
            "side": {"component": "components/side", "outputs": ["s.txt"]},
        },
        {"v": 1, "f": 2},
    )


def sweep_pipeline(root: Path) -> Path:
    """prep -> train; train reports summary.mae = |depth - 7| + trees/100 (config `m.*`).

    Over depth 1,5 x trees 100,300 the best is depth=5, trees=100: 2 + 1 = 3.
    """
    d = component(
        root,
        "train",
        'python train.py {depth} {trees}; echo {depth}-{trees} > "$STEPLINE_OUT/model"',
        {"depth": None, "trees": None},
        uses=["data:latest"],
    )
    (d / "train.py").write_text(
        "import sys, stepline\n"
        "d, t = int(sys.argv[1]), int(sys.argv[2])\n"
        "stepline.init().summary['mae'] = abs(d - 7) + t / 100\n"
    )
    component(root, "prep", 'sleep 0.3; echo prep > "$STEPLINE_OUT/data"', {})
    return pipeline(
        root,
        {
            "prep": {"component": "components/prep", "outputs": ["data"]},
            "train": {
                "component": "components/train",
                "inputs": ["data:latest"],
                "parameters": {"depth": "${m.depth}", "trees": "${m.trees}"},
                "outputs": ["model"],
            },
        },
        {"m": {"depth": 1, "trees": 100}},
    )
