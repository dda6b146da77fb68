#!/usr/bin/env python
"""Drop duplicate rows from a CSV artifact and log the result.

Exact duplicates (all columns equal) are always dropped; with ``--key id`` (or ``--key a,b``)
rows that repeat a key are dropped as well, the first occurrence kept. The artifact's metadata
says how many rows each rule dropped.
"""

import argparse
import logging
import tempfile
from pathlib import Path

import pandas as pd

import stepline

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()


def remove_duplicates(df: pd.DataFrame, key: list[str]) -> tuple[pd.DataFrame, dict]:
    """Return the de-duplicated frame and the counts of dropped rows."""
    missing = [c for c in key if c not in df.columns]
    if missing:
        raise ValueError(f"key columns {missing} not in the data; columns: {list(df.columns)}")
    stats = {"rows_in": len(df)}
    df = df.drop_duplicates()
    stats["exact_duplicates_dropped"] = stats["rows_in"] - len(df)
    if key:
        before = len(df)
        df = df.drop_duplicates(subset=key, keep="first")
        stats["key_duplicates_dropped"] = before - len(df)
    stats["rows_out"] = len(df)
    return df.reset_index(drop=True), stats


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="remove_duplicates")
    run.config.update(args)

    source = run.use_artifact(args.input_artifact)
    path = Path(source.file())
    logger.info("Reading %s (%s)", path.name, args.input_artifact)
    df = pd.read_csv(path)

    key = [c.strip() for c in args.key.split(",") if c.strip()]
    df, stats = remove_duplicates(df, key)
    logger.info(
        "Dropped %d exact duplicates%s; %d rows left",
        stats["exact_duplicates_dropped"],
        f" and {stats['key_duplicates_dropped']} repeated keys {key}" if key else "",
        stats["rows_out"],
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        df.to_csv(out, index=False)
        artifact = stepline.Artifact(
            args.artifact_name,
            type=args.artifact_type,
            description=args.artifact_description,
            metadata={**stats, "key": key},
        )
        artifact.add_file(str(out))
        run.log_artifact(artifact)
        artifact.wait()
    for name, value in stats.items():
        run.summary[name] = value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Drop duplicate rows from a CSV artifact")
    parser.add_argument(
        "--input_artifact", type=str, required=True, help="CSV artifact (e.g. raw_data:latest)"
    )
    parser.add_argument(
        "--artifact_name", type=str, default="clean_data", help="Name of the output artifact"
    )
    parser.add_argument(
        "--artifact_type", type=str, default="clean_data", help="Type of the output artifact"
    )
    parser.add_argument(
        "--artifact_description",
        type=str,
        default="Data without duplicate rows",
        help="A brief description of the output artifact",
    )
    parser.add_argument(
        "--key",
        type=str,
        default="",
        help="Comma-separated key columns; rows repeating a key are dropped too",
    )
    go(parser.parse_args())
