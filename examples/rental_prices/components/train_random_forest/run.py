#!/usr/bin/env python
"""Train a random forest on the rental listings and export the whole inference pipeline.

The exported model is one scikit-learn ``Pipeline``: imputation, ordinal and one-hot encoding,
the number of days since the last review, TF-IDF of the listing name, then the random forest.
It is saved as a stepline model package (MLflow-compatible, skops-serialized), so the test step,
``stepline serve`` and MLflow all load it without this file.
"""

import argparse
import ast
import json
import logging
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder

import stepline
from stepline import models
from stepline.errors import NotFound

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()

ORDINAL_CATEGORICAL = ["room_type"]
NON_ORDINAL_CATEGORICAL = ["neighbourhood_group"]
ZERO_IMPUTED = [
    "minimum_nights", "number_of_reviews", "reviews_per_month",
    "calculated_host_listings_count", "availability_365", "longitude", "latitude",
]  # fmt: skip
DATE_COLUMN = "last_review"
TEXT_COLUMN = "name"


def load_rf_config(value: str) -> dict:
    """Read the forest config: a JSON/YAML file, or an inline JSON, Python or YAML mapping."""
    path = Path(value)
    if len(value) < 4096 and path.is_file():
        value = path.read_text()
    try:
        config = json.loads(value)
    except json.JSONDecodeError:
        try:
            config = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            config = yaml.safe_load(value)
    if not isinstance(config, dict):
        raise ValueError(f"--rf_config must be a mapping, got {value!r}")
    return config


def get_inference_pipeline(
    rf_config: dict, max_tfidf_features: int, reference_date: str
) -> tuple[Pipeline, list[str]]:
    """Return the full (unfitted) pipeline and the input columns it uses.

    Only scikit-learn classes and two NumPy functions (``asarray``, ``busday_count``, for the
    date feature) appear in it, so it is serialized safely (skops) and loads in any process
    without this module.
    """
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    non_ordinal = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    zero_imputer = SimpleImputer(strategy="constant", fill_value=0)
    # days since the last review, counted up to the newest review seen in training
    date_feature = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="2010-01-01"),
        FunctionTransformer(np.asarray, kw_args={"dtype": "datetime64[D]"}),
        FunctionTransformer(
            np.busday_count, kw_args={"enddates": reference_date, "weekmask": "1111111"}
        ),
    )
    # TF-IDF wants one string per row: impute, then flatten the (n, 1) column to (n,) — a
    # ColumnTransformer given a scalar column passes it 1-D (no np.reshape, no custom code)
    tfidf = TfidfVectorizer(binary=False, max_features=max_tfidf_features, stop_words="english")
    name_tfidf = make_pipeline(
        SimpleImputer(strategy="constant", fill_value=""),
        ColumnTransformer([("tfidf", tfidf, 0)]),
    )
    preprocessor = ColumnTransformer(
        transformers=[
            ("ordinal_cat", ordinal, ORDINAL_CATEGORICAL),
            ("non_ordinal_cat", non_ordinal, NON_ORDINAL_CATEGORICAL),
            ("impute_zero", zero_imputer, ZERO_IMPUTED),
            ("transform_date", date_feature, [DATE_COLUMN]),
            ("transform_name", name_tfidf, [TEXT_COLUMN]),
        ],
        remainder="drop",
    )
    used_columns = [
        *ORDINAL_CATEGORICAL, *NON_ORDINAL_CATEGORICAL, *ZERO_IMPUTED, DATE_COLUMN, TEXT_COLUMN
    ]  # fmt: skip
    pipe = Pipeline(
        steps=[
            ("preprocessor", preprocessor),
            ("random_forest", RandomForestRegressor(**rf_config)),
        ]
    )
    return pipe, used_columns


def plot_feature_importance(pipe: Pipeline) -> plt.Figure:
    """Bar chart of importances per input column (one-hot and TF-IDF outputs summed)."""
    importances = pipe["random_forest"].feature_importances_
    slices = pipe["preprocessor"].output_indices_
    names, values = [], []
    for name, columns in (
        ("ordinal_cat", ORDINAL_CATEGORICAL),
        ("impute_zero", ZERO_IMPUTED),
        ("transform_date", [f"days since {DATE_COLUMN}"]),
    ):
        part = importances[slices[name]]
        names.extend(columns)
        values.extend(part.tolist())
    names.append(NON_ORDINAL_CATEGORICAL[0])
    values.append(float(importances[slices["non_ordinal_cat"]].sum()))
    names.append(f"{TEXT_COLUMN} (tf-idf)")
    values.append(float(importances[slices["transform_name"]].sum()))
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.barh(np.array(names)[order], np.array(values)[order])
    ax.set_xlabel("importance")
    ax.set_title("Random forest feature importance")
    fig.tight_layout()
    return fig


def alias_is_free(run, name: str, alias: str) -> bool:
    """True when no version of artifact ``name`` carries ``alias`` yet."""
    try:
        stepline.Api().artifact(f"{run.project}/{name}:{alias}")
    except NotFound:
        return True
    return False


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="train_random_forest")
    run.config.update(args)

    rf_config = load_rf_config(args.rf_config)
    rf_config.setdefault("random_state", args.random_seed)
    run.config.update({"random_forest": rf_config})

    logger.info("Fetching %s", args.trainval_artifact)
    X = pd.read_csv(run.use_artifact(args.trainval_artifact).file())
    y = X.pop("price")
    logger.info("Minimum price: %s, maximum price: %s", y.min(), y.max())

    val_size = int(args.val_size) if args.val_size >= 1 else args.val_size
    stratify = X[args.stratify_by] if args.stratify_by != "none" else None
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=val_size, stratify=stratify, random_state=args.random_seed
    )
    reference_date = pd.to_datetime(X_train[DATE_COLUMN]).max()
    reference_date = pd.Timestamp("2010-01-01") if pd.isna(reference_date) else reference_date
    reference_date = reference_date.date().isoformat()

    logger.info("Preparing the pipeline (reviews counted up to %s)", reference_date)
    pipe, used_columns = get_inference_pipeline(rf_config, args.max_tfidf_features, reference_date)

    logger.info("Fitting on %d rows", len(X_train))
    pipe.fit(X_train[used_columns], y_train)

    logger.info("Scoring on %d validation rows", len(X_val))
    y_pred = pipe.predict(X_val[used_columns])
    r_squared = pipe.score(X_val[used_columns], y_val)
    mae = mean_absolute_error(y_val, y_pred)
    logger.info("Score (r2): %.4f", r_squared)
    logger.info("MAE: %.2f", mae)
    run.summary["r2"] = r_squared
    run.summary["mae"] = mae

    fig = plot_feature_importance(pipe)
    run.log({"feature_importance": stepline.Image(fig)})
    plt.close(fig)

    with tempfile.TemporaryDirectory() as tmp:
        export_path = Path(tmp) / "random_forest_dir"
        example = X_val[used_columns].dropna().iloc[:5]
        signature = models.infer_signature(X_val[used_columns], y_pred)
        logger.info("Exporting the model to %s", export_path)
        # the training rows' profile travels with the model: `stepline monitor` compares with it
        models.save(
            pipe,
            str(export_path),
            signature=signature,
            input_example=example,
            reference_data=X_train[used_columns],
        )

        artifact = stepline.Artifact(
            args.output_artifact,
            type="model_export",
            description="Random forest inference pipeline (pre-processing included)",
            metadata={**rf_config, "r2": r_squared, "mae": mae},
        )
        artifact.add_dir(str(export_path))
        aliases = None
        if args.initial_alias and alias_is_free(run, args.output_artifact, args.initial_alias):
            logger.info("No %r export yet: this one becomes it", args.initial_alias)
            aliases = [args.initial_alias]
        run.log_artifact(artifact, aliases=aliases)
        artifact.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train a random forest on the rental listings")
    parser.add_argument(
        "--trainval_artifact",
        type=str,
        required=True,
        help="Artifact with the train+validation data (e.g. trainval_data.csv:latest)",
    )
    parser.add_argument(
        "--val_size",
        type=float,
        required=True,
        help="Size of the validation split: a fraction of the dataset, or a number of rows",
    )
    parser.add_argument(
        "--random_seed", type=int, default=42, help="Seed of the random number generator"
    )
    parser.add_argument(
        "--stratify_by",
        type=str,
        default="none",
        help="Column to stratify the validation split by ('none' for none)",
    )
    parser.add_argument(
        "--rf_config",
        type=str,
        required=True,
        help="Random forest configuration: a JSON/YAML file or an inline mapping. "
        "It is passed as is to RandomForestRegressor.",
    )
    parser.add_argument(
        "--max_tfidf_features",
        type=int,
        default=5,
        help="Maximum number of words kept by the TF-IDF of the listing name",
    )
    parser.add_argument(
        "--output_artifact",
        type=str,
        default="random_forest_export",
        help="Name of the model export artifact",
    )
    parser.add_argument(
        "--initial_alias",
        type=str,
        default="",
        help="Put this alias on the export when no version carries it yet ('' = never)",
    )
    go(parser.parse_args())
