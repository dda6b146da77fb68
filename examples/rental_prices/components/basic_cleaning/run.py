#!/usr/bin/env python
"""Clean the raw listings sample and log it as a new artifact.

Drops exact duplicate rows, prices outside ``[min_price, max_price]`` and points outside the
New York City bounding box, and parses ``last_review`` as a date.
"""

import argparse
import logging
import tempfile
from pathlib import Path

import pandas as pd

import stepline
from stepline.errors import NotFound

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()

# The bounding box the data check enforces (longitude, latitude).
LONGITUDE = (-74.25, -73.50)
LATITUDE = (40.5, 41.2)


def clean(df: pd.DataFrame, min_price: float, max_price: float) -> tuple[pd.DataFrame, dict]:
    """Return the cleaned frame and how many rows each rule dropped."""
    dropped = {}
    n = len(df)
    df = df.drop_duplicates().reset_index(drop=True)
    dropped["duplicates"], n = n - len(df), len(df)
    df = df[df["price"].between(min_price, max_price)].copy()
    dropped["price_out_of_range"], n = n - len(df), len(df)
    in_city = df["longitude"].between(*LONGITUDE) & df["latitude"].between(*LATITUDE)
    df = df[in_city].copy()
    dropped["outside_nyc"] = n - len(df)
    df["last_review"] = pd.to_datetime(df["last_review"], errors="coerce")
    return df, dropped


def alias_is_free(run, name: str, alias: str) -> bool:
    """True when no version of artifact ``name`` carries ``alias`` yet."""
    try:
        stepline.Api().artifact(f"{run.project}/{name}:{alias}")
    except NotFound:
        return True
    return False


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="basic_cleaning")
    run.config.update(args)

    logger.info("Downloading artifact %s", args.input_artifact)
    local_path = run.use_artifact(args.input_artifact).file()
    df = pd.read_csv(local_path)

    logger.info("Cleaning %d rows (price %s..%s)", len(df), args.min_price, args.max_price)
    df, dropped = clean(df, args.min_price, args.max_price)
    for rule, count in dropped.items():
        logger.info("Dropped %d rows: %s", count, rule)
    logger.info("Kept %d rows", len(df))

    aliases = []
    if args.reference_alias and alias_is_free(run, args.output_artifact, args.reference_alias):
        logger.info("No %r version yet: this one becomes it", args.reference_alias)
        aliases.append(args.reference_alias)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / args.output_artifact
        df.to_csv(out, index=False)
        artifact = stepline.Artifact(
            args.output_artifact,
            type=args.output_type,
            description=args.output_description,
            metadata={"rows": len(df), "dropped": dropped},
        )
        artifact.add_file(str(out))
        run.log_artifact(artifact, aliases=aliases or None)
        artifact.wait()
    run.summary["rows"] = len(df)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A very basic data cleaning")
    parser.add_argument(
        "--input_artifact",
        type=str,
        help="Raw sample to clean (e.g. sample.csv:latest)",
        required=True,
    )
    parser.add_argument(
        "--output_artifact", type=str, help="Name of the cleaned artifact", required=True
    )
    parser.add_argument(
        "--output_type", type=str, help="Type of the cleaned artifact", default="clean_sample"
    )
    parser.add_argument(
        "--output_description",
        type=str,
        help="Description of the cleaned artifact",
        default="Listings without duplicates, price outliers or points outside NYC",
    )
    parser.add_argument(
        "--min_price", type=float, help="Minimum nightly price to keep", required=True
    )
    parser.add_argument(
        "--max_price", type=float, help="Maximum nightly price to keep", required=True
    )
    parser.add_argument(
        "--reference_alias",
        type=str,
        default="reference",
        help="Put this alias on the logged version when no version carries it yet ('' = never)",
    )
    go(parser.parse_args())
