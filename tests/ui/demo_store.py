"""A small store with everything the UI shows, written through stepline's public API.

Used by the UI tests, `docs/screenshots.py` and nothing else. `build()` fills the store that
`STEPLINE_DIR` names and returns the ids the tests look for.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = "rental_prices"
SPIKE_STEP = 1234
SPIKE_VALUE = 50.0


@dataclass
class Demo:
    project: str = PROJECT
    train_runs: list[str] = field(default_factory=list)
    spike_run: str = ""
    eda_run: str = ""
    clean_runs: list[str] = field(default_factory=list)
    model: str = "rental_prices_rf"


CSV_V0 = """id,neighbourhood,room_type,price,minimum_nights
1,Harlem,Private room,80,2
2,Midtown,Entire home/apt,225,3
3,Harlem,Entire home/apt,150,1
4,Bushwick,Private room,60,5
5,Chelsea,Entire home/apt,310,2
6,Astoria,Shared room,45,1
"""

CSV_V1 = """id,neighbourhood,room_type,price,minimum_nights,reviews
1,Harlem,Private room,85,2,14
2,Midtown,Entire home/apt,225,3,40
3,Harlem,Entire home/apt,150,1,3
5,Chelsea,Entire home/apt,299,2,77
6,Astoria,Shared room,45,1,0
7,Greenpoint,Private room,95,2,9
"""


def _image() -> object:
    import numpy as np

    y, x = np.mgrid[0:120, 0:200]
    r = (np.sin(x / 14.0) * 0.5 + 0.5) * 255
    g = (np.cos(y / 11.0) * 0.5 + 0.5) * 200
    b = ((x + y) % 256).astype(float)
    return np.dstack([r, g, b]).astype("uint8")


def build(tmp: Path, steps: int = 2000, train_runs: int = 8) -> Demo:
    """Fill the configured store (see the module docstring)."""
    import stepline
    from stepline.backends import get_backend

    demo = Demo()
    rng = random.Random(7)
    raw = tmp / "raw.csv"
    raw.write_text(CSV_V0)

    # basic_cleaning twice: clean_sample.csv v0, then v1 with changed rows and a new column
    for i, text in enumerate((CSV_V0, CSV_V1)):
        run = stepline.init(
            project=PROJECT,
            group="cleaning",
            job_type="basic_cleaning",
            config={"min_price": 10 + i * 5, "max_price": 350},
            reinit="create_new",
        )
        if i == 0:
            art = stepline.Artifact(
                "raw_data.csv", type="raw_data", description="NYC listings sample"
            )
            art.add_file(str(raw), name="sample.csv")
            run.log_artifact(art)
        run.use_artifact("raw_data.csv:latest")
        out = tmp / f"clean{i}.csv"
        out.write_text(text)
        art = stepline.Artifact(
            "clean_sample.csv",
            type="clean_sample",
            metadata={"rows": text.count("\n") - 1, "min_price": 10 + i * 5},
        )
        art.add_file(str(out), name="clean_sample.csv")
        notes = tmp / f"notes{i}.txt"
        notes.write_text(
            "cleaning notes\nprices clipped\n" + ("reviews column added\n" if i else "")
        )
        art.add_file(str(notes), name="notes.txt")
        run.log_artifact(art, aliases=["reference"] if i == 0 else None)
        run.summary["rows_out"] = text.count("\n") - 1
        demo.clean_runs.append(run.id)
        run.finish()

    # a sweep of training runs; one has a single spike in its loss
    for i in range(train_runs):
        depth, trees = [5, 10, 15, 20][i % 4], [100, 200][i // 4 % 2]
        run = stepline.init(
            project=PROJECT,
            group="sweep-1",
            job_type="train",
            config={"max_depth": depth, "n_estimators": trees, "lr": 0.1 if i % 3 else 0.05},
            tags=["rf"],
            reinit="create_new",
        )
        run.use_artifact("clean_sample.csv:latest")
        base = 1.0 + depth / 40
        for s in range(steps):
            loss = base * math.exp(-s / (steps / 4)) + 0.05 + rng.random() * 0.02
            if i == 0 and s == SPIKE_STEP:
                loss = SPIKE_VALUE
            run.log(
                {
                    "loss": loss,
                    "val_mae": 40 - 15 * (1 - math.exp(-s / 500)) + depth / 4 + rng.random(),
                }
            )
        run.summary["r2"] = round(0.52 + depth / 100 - trees / 4000 + rng.random() * 0.02, 4)
        run.summary["mae"] = round(33 - depth / 3 + rng.random(), 3)
        model = tmp / f"model{i}.txt"
        model.write_text(f"random forest depth={depth} trees={trees}\n")
        art = stepline.Artifact("random_forest_export", type="model_export")
        art.add_file(str(model), name="model.txt")
        run.log_artifact(art)
        demo.train_runs.append(run.id)
        if i == 0:
            demo.spike_run = run.id
        run.finish()

    # eda: an image and a table
    run = stepline.init(project=PROJECT, group="eda", job_type="eda", reinit="create_new")
    run.use_artifact("raw_data.csv:latest")
    run.log({"price_map": stepline.Image(_image(), caption="synthetic heat map")})
    run.log(
        {
            "top_neighbourhoods": stepline.Table(
                columns=["neighbourhood", "listings", "median_price"],
                data=[
                    ["Harlem", 120, 95.0],
                    ["Midtown", 80, 230.0],
                    ["Bushwick", 64, 70.0],
                    ["Chelsea", 51, 280.0],
                ],
            )
        }
    )
    demo.eda_run = run.id
    run.finish()
    backend = get_backend()
    backend.put_log(
        demo.eda_run, "stdout", b"loading sample.csv\n6 rows, 5 columns\nwrote price_map.png\n"
    )
    backend.put_log(demo.eda_run, "stderr", b"warning: 1 listing without coordinates\n")

    # the registry: two model versions, `prod` on the first
    from stepline import registry

    registry.register(f"{PROJECT}/random_forest_export:v0", demo.model, aliases=["prod"])
    registry.register(f"{PROJECT}/random_forest_export:v1", demo.model, aliases=["staging"])
    return demo


def pipeline_project(root: Path, sleep: float = 0.0) -> Path:
    """A 4-step pipeline of shell components (see tests/pipeline/helpers.py); `sleep` slows `double`."""
    from tests.pipeline import helpers

    path = helpers.chain(root)
    if sleep:
        mlp = root / "components" / "double" / "MLproject"
        mlp.write_text(
            mlp.read_text().replace('echo "{factor}"', f'sleep {sleep}; echo "{{factor}}"')
        )
    return path
