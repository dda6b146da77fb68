#!/usr/bin/env python
"""Split a cleaned sample into train+validation and test sets, and log both."""

import argparse
import logging
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

import stepline

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="train_val_test_split")
    run.config.update(args)

    logger.info("Fetching artifact %s", args.input)
    df = pd.read_csv(run.use_artifact(args.input).file())

    test_size = int(args.test_size) if args.test_size >= 1 else args.test_size
    stratify = df[args.stratify_by] if args.stratify_by != "none" else None
    trainval, test = train_test_split(
        df, test_size=test_size, random_state=args.random_seed, stratify=stratify
    )
    logger.info("Split %d rows into trainval %d / test %d", len(df), len(trainval), len(test))

    with tempfile.TemporaryDirectory() as tmp:
        for frame, name in ((trainval, "trainval"), (test, "test")):
            path = Path(tmp) / f"{name}_data.csv"
            frame.to_csv(path, index=False)
            logger.info("Uploading %s", path.name)
            artifact = stepline.Artifact(
                path.name,
                type=f"{name}_data",
                description=f"{name} split of {args.input}",
                metadata={"rows": len(frame), "source": args.input},
            )
            artifact.add_file(str(path))
            run.log_artifact(artifact)
            artifact.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Split a sample into train+validation and test")
    parser.add_argument("--input", type=str, help="Input artifact to split", required=True)
    parser.add_argument(
        "--test_size",
        type=float,
        required=True,
        help="Size of the test split: a fraction of the dataset, or a number of rows",
    )
    parser.add_argument(
        "--random_seed", type=int, help="Seed of the random number generator", default=42
    )
    parser.add_argument(
        "--stratify_by", type=str, help="Column to stratify by ('none' for none)", default="none"
    )
    go(parser.parse_args())
