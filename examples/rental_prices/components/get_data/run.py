#!/usr/bin/env python
"""Fetch a listings sample and log it as an artifact.

``--sample`` is a file name in the example's ``data/`` folder (``sample1.csv``), a local path,
or a ``file://``/``http(s)://`` URL, so the same step runs on the bundled data and on the real
NYC listings file.
"""

import argparse
import logging
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import stepline

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def fetch(sample: str, dest_dir: Path) -> Path:
    """Return a local path holding ``sample``, downloading it into ``dest_dir`` if needed."""
    parsed = urllib.parse.urlparse(sample)
    if parsed.scheme in ("http", "https"):
        target = dest_dir / (Path(parsed.path).name or "sample.csv")
        logger.info("Downloading %s", sample)
        with urllib.request.urlopen(sample) as response, open(target, "wb") as fh:
            shutil.copyfileobj(response, fh)
        return target
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    path = Path(sample).expanduser()
    if not path.is_absolute() and not path.exists() and (DATA_DIR / sample).exists():
        path = DATA_DIR / sample
    if not path.exists():
        raise FileNotFoundError(
            f"sample {sample!r} not found: give a file of {DATA_DIR} "
            f"({', '.join(p.name for p in sorted(DATA_DIR.glob('*.csv')))}), a path or a URL"
        )
    return path


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="download_file")
    run.config.update(args)

    with tempfile.TemporaryDirectory() as tmp:
        path = fetch(args.sample, Path(tmp))
        with open(path, "rb") as fh:
            rows = max(sum(1 for _ in fh) - 1, 0)
        logger.info("Logging %s (%d rows) as %s", path, rows, args.artifact_name)
        artifact = stepline.Artifact(
            args.artifact_name,
            type=args.artifact_type,
            description=args.artifact_description,
            metadata={"source": args.sample, "rows": rows, "bytes": path.stat().st_size},
        )
        artifact.add_file(str(path), name=args.artifact_name)
        run.log_artifact(artifact)
        artifact.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fetch a listings sample, log it as an artifact")
    parser.add_argument(
        "--sample",
        type=str,
        help="File in the example's data/ folder (sample1.csv), a local path or a URL",
        required=True,
    )
    parser.add_argument(
        "--artifact_name", type=str, help="Name of the artifact to log", required=True
    )
    parser.add_argument(
        "--artifact_type", type=str, help="Type of the artifact", default="raw_data"
    )
    parser.add_argument(
        "--artifact_description",
        type=str,
        help="A brief description of the artifact",
        default="Raw listings sample",
    )
    go(parser.parse_args())
