"""A tiny real pipeline for trigger tests: train a line on `sample.csv`, score it on its test split.

`train` reads `sample.csv:latest` (logged from outside the pipeline by `put_sample`), fits
y = slope * x by least squares on the first 28 rows, and logs `model` (JSON: slope, bias from
the config) and `test.csv` (the last 12 rows). `score` reads the model named by its `model`
parameter and the test split, and logs `summary.mae`; it exits 3 on a model marked broken.
Both are plain Python scripts run by the real component runner (env manager local).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

TRAIN = """
    import csv, json, pathlib, sys, tempfile
    import stepline

    bias, broken = float(sys.argv[1]), sys.argv[2] == "1"
    run = stepline.init()
    rows = list(csv.DictReader(open(run.use_artifact("sample.csv:latest").file())))
    xs = [float(r["x"]) for r in rows]
    ys = [float(r["y"]) for r in rows]
    fit_x, fit_y = xs[:28], ys[:28]
    slope = sum(a * b for a, b in zip(fit_x, fit_y)) / sum(a * a for a in fit_x)
    out = pathlib.Path(tempfile.mkdtemp())
    (out / "model.json").write_text(json.dumps({"slope": slope, "bias": bias, "broken": broken}))
    with open(out / "test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y"])
        w.writerows(zip(xs[28:], ys[28:]))
    model = stepline.Artifact("model", type="model_export")
    model.add_file(str(out / "model.json"))
    run.log_artifact(model)
    test = stepline.Artifact("test.csv", type="test_data")
    test.add_file(str(out / "test.csv"))
    run.log_artifact(test)
"""

SCORE = """
    import csv, json, sys
    import stepline

    run = stepline.init()
    model = json.loads(open(run.use_artifact(sys.argv[1]).file()).read())
    if model["broken"]:
        print("the model is broken", file=sys.stderr)
        sys.exit(3)
    rows = list(csv.DictReader(open(run.use_artifact(sys.argv[2]).file())))
    errors = [abs(model["slope"] * float(r["x"]) + model["bias"] - float(r["y"])) for r in rows]
    run.summary["mae"] = sum(errors) / len(errors)
"""


def _component(root: Path, name: str, script: str, params: list[str]) -> None:
    d = root / "components" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "run.py").write_text(textwrap.dedent(script))
    args = " ".join(f"{{{p}}}" for p in params)
    (d / "MLproject").write_text(
        yaml.safe_dump(
            {
                "name": name,
                "entry_points": {
                    "main": {
                        "parameters": {p: {"type": "string"} for p in params},
                        "command": f"python run.py {args}",
                    }
                },
            }
        )
    )


PROMOTE = {
    "test": {"step": "score", "model_parameter": "model"},
    "promote": {
        "model": "model",
        "alias": "prod",
        "metric": "mae",
        "mode": "min",
        "min_improvement": 0.5,
    },
}


def write_pipeline(
    root: Path,
    triggers: dict[str, Any] | None = None,
    bias: float = 0.0,
    broken: bool = False,
) -> Path:
    """The pipeline file (rewritten in place by later calls, as a user edits it)."""
    if not (root / "components").exists():
        _component(root, "train", TRAIN, ["bias", "broken"])
        _component(root, "score", SCORE, ["model", "test_data"])
    doc = {
        "name": "line",
        "project": "demo",
        "config": {
            "train": {"bias": bias, "broken": int(broken)},
            "score": {"model": "model:prod"},
        },
        "steps": {
            "train": {
                "component": "components/train",
                "parameters": {"bias": "${train.bias}", "broken": "${train.broken}"},
                "inputs": ["sample.csv:latest"],
                "outputs": ["model", "test.csv"],
            },
            "score": {
                "component": "components/score",
                "parameters": {"model": "${score.model}", "test_data": "test.csv:latest"},
                "inputs": ["model:latest", "test.csv:latest"],
            },
        },
    }
    if triggers is not None:
        doc["triggers"] = triggers
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def put_sample(root: Path, slope: float, tag: str, noise: float = 0.3) -> str:
    """Log a new `demo/sample.csv` version from outside the pipeline (as a user or a job would)."""
    import stepline
    from stepline.tracking.run import init

    folder = root / "uploads" / tag
    folder.mkdir(parents=True)
    lines = ["x,y"] + [f"{x},{slope * x + (noise if x % 2 else -noise)}" for x in range(1, 41)]
    (folder / "sample.csv").write_text("\n".join(lines) + "\n")
    run = init(project="demo", job_type="upload", reinit="create_new")
    art = stepline.Artifact("sample.csv", type="raw_data")
    art.add_file(str(folder / "sample.csv"))
    run.log_artifact(art)
    run.finish()
    return str(art.version)


def pipeline_runs() -> list[Any]:
    """The execution records (job type `pipeline`) of project demo, newest first."""
    from stepline.tracking.api import Api

    return Api().runs("demo", filters={"job_type": "pipeline"})
