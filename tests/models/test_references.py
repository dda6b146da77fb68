"""Loading, serving and scoring by artifact and registry reference, through the real core.

tests/conftest.py gives every test its own store and working folder under tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import stepline
from stepline import registry
from stepline.cli import cli
from stepline.errors import InvalidReference, NotFound, VersionNotFound
from stepline.models import load, save, set_registry_resolver


def log_export(tmp_path: Path, model, frame: pd.DataFrame, aliases: list[str]) -> str:
    export = save(
        model, tmp_path / f"export-{len(aliases)}-{id(model)}", input_example=frame.iloc[:2]
    )
    with stepline.init(
        project="nyc_airbnb", job_type="train_random_forest", reinit="create_new"
    ) as run:
        art = stepline.Artifact(
            "random_forest_export", type="model_export", metadata={"n_estimators": 5}
        )
        art.add_dir(str(export))
        run.log_artifact(art, aliases=aliases)
        art.wait()
        return str(art.version)


def test_load_by_artifact_reference(tmp_path: Path, rental) -> None:
    frame, _, model = rental
    assert log_export(tmp_path, model, frame, ["prod"]) == "v0"
    loaded = load("nyc_airbnb/random_forest_export:prod")
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))
    with stepline.init(project="nyc_airbnb", job_type="test_model", reinit="create_new") as run:
        used = load("random_forest_export:prod", run=run)
        run_id = run.id
    assert used.model_uuid == loaded.model_uuid
    consumers = stepline.Api().artifact("nyc_airbnb/random_forest_export:v0").used_by()
    assert run_id in [r.id for r in consumers]
    with pytest.raises(NotFound):
        load("nyc_airbnb/random_forest_export:nope")


def test_load_and_predict_by_registry_reference(tmp_path: Path, rental) -> None:
    frame, _, model = rental
    log_export(tmp_path, model, frame, [])
    registry.register("nyc_airbnb/random_forest_export:v0", "rental_prices", aliases=["prod"])
    loaded = load("rental_prices@prod")
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))
    assert load("models:/rental_prices/1").model_uuid == loaded.model_uuid
    # one grammar: the registry and the model loader take the same forms
    by_version = registry.resolve("rental_prices:v1")
    for form in (
        "models:/rental_prices/1",
        "models:/rental_prices@prod",
        "rental_prices@prod",
        "rental_prices:1",
        "rental_prices",
    ):
        assert registry.resolve(form) == by_version, form
    assert load("models:/rental_prices@prod").model_uuid == loaded.model_uuid
    with pytest.raises(InvalidReference, match=r"'models:/rental_prices/x' is malformed; write"):
        load("models:/rental_prices/x")
    with pytest.raises(VersionNotFound, match="has no alias 'staging'; aliases: prod"):
        registry.resolve("rental_prices@staging")
    frame.to_csv(tmp_path / "in.csv", index=False)
    res = CliRunner().invoke(
        cli,
        [
            "predict",
            "rental_prices@prod",
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "out.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(frame)


def test_custom_registry_resolver_hook(tmp_path: Path, rental) -> None:
    frame, _, model = rental
    pkg = save(model, tmp_path / "elsewhere", input_example=frame.iloc[:2])
    seen: list[tuple[str, str]] = []

    def resolver(name: str, selector: str) -> Path:
        seen.append((name, selector))
        return pkg

    set_registry_resolver(resolver)
    try:
        assert load("remote_model@champion").path == pkg
    finally:
        set_registry_resolver(None)
    assert seen == [("remote_model", "champion")]
