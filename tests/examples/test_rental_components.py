"""Each rental_prices component's run.py, run directly on a small generated sample.

The components run in this interpreter (stepline from the worktree's src, a store in tmp), one
after the other, linked through the artifacts they log, as the pipeline would run them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from .conftest import EXAMPLES, HAS_CORE, load_module, run_component

RENTAL = EXAMPLES / "rental_prices"
COMPONENTS = RENTAL / "components"
RF_CONFIG = {
    "n_estimators": 20, "max_depth": 15, "min_samples_split": 4, "min_samples_leaf": 3,
    "n_jobs": -1, "criterion": "squared_error", "max_features": 0.5, "oob_score": True,
}  # fmt: skip

pytestmark = pytest.mark.skipif(not HAS_CORE, reason="needs the tracking core: merge main")
needs_checks = pytest.mark.skipif(
    importlib.util.find_spec("stepline.checks") is None,
    reason="needs stepline.checks (pytest plugin, --csv/--ref, data/ref_data): not merged yet",
)
needs_models = pytest.mark.skipif(
    importlib.util.find_spec("stepline.models") is None,
    reason="needs stepline.models (save/load/infer_signature): not merged yet",
)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store where get_data, basic_cleaning and data_split ran on a 2,500-row sample."""
    tmp = tmp_path_factory.mktemp("rental")
    sample = tmp / "small.csv"
    subprocess.run(
        [sys.executable, str(RENTAL / "data" / "generate.py"), "--variant", "1", "--rows", "2500",
         "--seed", "7", "--out", str(sample)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    store = tmp / ".stepline"
    run_component(
        COMPONENTS / "get_data",
        ["--sample", str(sample), "--artifact_name", "sample.csv"],
        store,
    )
    run_component(
        COMPONENTS / "basic_cleaning",
        ["--input_artifact", "sample.csv:latest", "--output_artifact", "clean_sample.csv",
         "--min_price", "10", "--max_price", "350"],
        store,
    )  # fmt: skip
    run_component(
        COMPONENTS / "data_split",
        ["--input", "clean_sample.csv:latest", "--test_size", "0.2",
         "--stratify_by", "neighbourhood_group"],
        store,
    )  # fmt: skip
    yield store
    from stepline.backends import reset

    reset()


def api(store: Path):
    import stepline
    from stepline.backends import get_backend

    return stepline.Api(backend=get_backend(store))


def artifact(ref: str, store: Path):
    return api(store).artifact(f"examples/{ref}")


def test_get_data_logs_the_sample_with_its_source(chain: Path) -> None:
    raw = artifact("sample.csv:latest", chain)
    assert raw.type == "raw_data"
    assert raw.metadata["rows"] == 2500
    assert raw.metadata["source"].endswith("small.csv")
    assert len(pd.read_csv(raw.file())) == 2500


def test_get_data_finds_bundled_samples_by_name(store: Path) -> None:
    run_component(
        COMPONENTS / "get_data", ["--sample", "sample2.csv", "--artifact_name", "s2.csv"], store
    )
    assert artifact("s2.csv:latest", store).metadata["rows"] == 18_000
    failed = run_component(
        COMPONENTS / "get_data", ["--sample", "nope.csv", "--artifact_name", "x"], store,
        check=False,
    )  # fmt: skip
    assert failed.returncode != 0 and "sample1.csv" in failed.stderr


def test_basic_cleaning_drops_flaws_and_becomes_the_reference(chain: Path) -> None:
    clean = artifact("clean_sample.csv:latest", chain)
    assert clean.type == "clean_sample"
    assert "reference" in clean.aliases  # the first clean sample is the reference
    df = pd.read_csv(clean.file())
    assert not df.duplicated().any()
    assert df["price"].between(10, 350).all()
    assert df["longitude"].between(-74.25, -73.50).all()
    assert df["latitude"].between(40.5, 41.2).all()
    dropped = clean.metadata["dropped"]
    assert dropped["duplicates"] > 0 and dropped["price_out_of_range"] > 0
    assert dropped["outside_nyc"] > 0
    assert clean.metadata["rows"] == len(df)


def test_data_split_is_stratified_and_complete(chain: Path) -> None:
    clean = pd.read_csv(artifact("clean_sample.csv:latest", chain).file())
    trainval = pd.read_csv(artifact("trainval_data.csv:latest", chain).file())
    test = pd.read_csv(artifact("test_data.csv:latest", chain).file())
    assert artifact("test_data.csv:latest", chain).type == "test_data"
    assert len(trainval) + len(test) == len(clean)
    assert len(test) == pytest.approx(0.2 * len(clean), abs=1)
    share = test["neighbourhood_group"].value_counts(normalize=True)
    overall = clean["neighbourhood_group"].value_counts(normalize=True)
    assert share["Manhattan"] == pytest.approx(overall["Manhattan"], abs=0.01)
    assert sorted(pd.concat([trainval, test])["id"]) == sorted(clean["id"])


def test_rf_config_accepts_files_json_python_and_yaml(tmp_path: Path) -> None:
    pytest.importorskip("stepline.models", reason="train_random_forest imports stepline.models")
    module = load_module(COMPONENTS / "train_random_forest" / "run.py")
    path = tmp_path / "rf.json"
    path.write_text(json.dumps(RF_CONFIG))
    assert module.load_rf_config(str(path)) == RF_CONFIG
    assert module.load_rf_config(json.dumps(RF_CONFIG)) == RF_CONFIG
    assert module.load_rf_config(repr(RF_CONFIG)) == RF_CONFIG
    assert module.load_rf_config("{max_depth: 3, oob_score: true}") == {
        "max_depth": 3, "oob_score": True,
    }  # fmt: skip


@needs_checks
def test_data_check_passes_on_the_clean_sample(chain: Path) -> None:
    proc = run_component(
        COMPONENTS / "data_check", [], chain, check=False,
        command=[sys.executable, "-m", "pytest", ".", "-vv", "-s", "-rA", "-p", "no:cacheprovider",
                 "--csv", "clean_sample.csv:latest", "--ref", "clean_sample.csv:reference",
                 "--kl_threshold", "0.2", "--min_price", "10", "--max_price", "350",
                 "--min_rows", "1000", "--max_rows", "1000000"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "PASSED test_data.py::test_similar_neigh_distrib" in proc.stdout


@needs_checks
def test_data_check_flags_the_shifted_sample(chain: Path, tmp_path: Path) -> None:
    shifted = tmp_path / "shifted.csv"
    subprocess.run(
        [sys.executable, str(RENTAL / "data" / "generate.py"), "--variant", "2", "--rows", "2500",
         "--out", str(shifted)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    run_component(
        COMPONENTS / "get_data", ["--sample", str(shifted), "--artifact_name", "new.csv"], chain
    )
    run_component(
        COMPONENTS / "basic_cleaning",
        ["--input_artifact", "new.csv:latest", "--output_artifact", "new_clean.csv",
         "--min_price", "10", "--max_price", "350", "--reference_alias", ""],
        chain,
    )  # fmt: skip
    proc = run_component(
        COMPONENTS / "data_check", [], chain, check=False,
        command=[sys.executable, "-m", "pytest", ".", "-vv", "-s", "-rA", "-p", "no:cacheprovider",
                 "--csv", "new_clean.csv:latest", "--ref", "clean_sample.csv:reference",
                 "--kl_threshold", "0.2", "--min_price", "10", "--max_price", "350",
                 "--min_rows", "1000", "--max_rows", "1000000"],
    )  # fmt: skip
    assert proc.returncode != 0
    assert "FAILED test_data.py::test_similar_neigh_distrib" in proc.stdout
    assert "PASSED test_data.py::test_column_names" in proc.stdout


@needs_models
def test_train_then_test_the_exported_model(chain: Path) -> None:
    run_component(
        COMPONENTS / "train_random_forest",
        ["--trainval_artifact", "trainval_data.csv:latest", "--val_size", "0.2",
         "--stratify_by", "neighbourhood_group", "--rf_config", json.dumps(RF_CONFIG),
         "--max_tfidf_features", "5", "--initial_alias", "prod"],
        chain,
    )  # fmt: skip
    export = artifact("random_forest_export:latest", chain)
    assert export.type == "model_export"
    assert "prod" in export.aliases
    assert "MLmodel" in export.files()
    assert export.metadata["n_estimators"] == 20
    # the training rows' profile: in the package, and logged beside it for lineage and monitor
    assert "reference_profile.json" in export.files()
    (profile,) = api(chain).artifacts(type_name="profile")
    assert profile.name == "random_forest_export.profile"
    assert profile.metadata["model"] == export.qualified_name
    assert profile.metadata["training_data"] == [
        artifact("trainval_data.csv:latest", chain).qualified_name
    ]

    # the package: signature, input example, safe loading, predictions on rows with gaps
    from stepline import models

    package = export.download(chain.parent / "export")
    model = models.load(package)  # only scikit-learn classes and pure NumPy functions inside
    mlmodel = (Path(package) / "MLmodel").read_text()
    assert "signature" in mlmodel and "input_example" in mlmodel and "sklearn" in mlmodel
    rows = pd.read_csv(artifact("test_data.csv:latest", chain).file()).head(50)
    rows.loc[0, ["name", "last_review", "reviews_per_month"]] = None
    predictions = model.predict(rows.drop(columns=["price"]))
    assert len(predictions) == 50 and (predictions > 10).all()

    train = export.logged_by()
    assert train.summary["r2"] > 0.3
    assert train.summary["mae"] > 0

    run_component(
        COMPONENTS / "test_regression_model",
        ["--mlflow_model", "random_forest_export:prod", "--test_dataset", "test_data.csv:latest"],
        chain,
    )  # fmt: skip
    tests = api(chain).runs("examples", filters={"job_type": "test_model"})
    assert tests and tests[0].summary["r2"] > 0.3
