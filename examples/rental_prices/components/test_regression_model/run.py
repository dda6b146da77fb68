#!/usr/bin/env python
"""Score a model export on the held-out test set."""

import argparse
import logging

import pandas as pd
from sklearn.metrics import mean_absolute_error, r2_score

import stepline
from stepline import models

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="test_model")
    run.config.update(args)

    logger.info("Downloading artifacts")
    model_local_path = run.use_artifact(args.mlflow_model).download()
    X_test = pd.read_csv(run.use_artifact(args.test_dataset).file())
    y_test = X_test.pop("price")

    logger.info("Loading the model and scoring %d rows", len(X_test))
    model = models.load(model_local_path)  # skops: only known-safe types load
    y_pred = model.predict(X_test)

    r_squared = r2_score(y_test, y_pred)
    mae = mean_absolute_error(y_test, y_pred)
    logger.info("Score (r2): %.4f", r_squared)
    logger.info("MAE: %.2f", mae)
    run.summary["r2"] = r_squared
    run.summary["mae"] = mae


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Test the provided model against the test dataset")
    parser.add_argument(
        "--mlflow_model",
        type=str,
        required=True,
        help="Model export to test, an MLflow-compatible model package (random_forest_export:prod)",
    )
    parser.add_argument(
        "--test_dataset", type=str, required=True, help="Test dataset (test_data.csv:latest)"
    )
    go(parser.parse_args())
