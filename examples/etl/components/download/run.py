#!/usr/bin/env python
"""Download a file and log it as an artifact.

``--url`` is an ``http(s)://``, ``file://`` or ``s3://`` URL, or a plain path. The file is
streamed to disk in chunks with a progress bar, so its size is not limited by memory. The artifact
keeps the file's name as its entry and records the source URL, the size in bytes and the number of
data rows in its metadata.
"""

import argparse
import csv
import logging
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

import stepline

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()

CHUNK = 1 << 20
HERE = Path(__file__).resolve().parent


def _http_chunks(url: str) -> tuple[int | None, Iterator[bytes]]:
    import requests

    response = requests.get(url, stream=True, timeout=60)
    response.raise_for_status()
    length = response.headers.get("content-length")

    def chunks() -> Iterator[bytes]:
        with response:
            yield from response.iter_content(chunk_size=CHUNK)

    return (int(length) if length else None), chunks()


def _s3_chunks(url: str) -> tuple[int | None, Iterator[bytes]]:
    import boto3  # honours AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... from the environment

    parsed = urllib.parse.urlparse(url)
    body = boto3.client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
    return body.get("ContentLength"), body["Body"].iter_chunks(chunk_size=CHUNK)


def _file_chunks(path: Path) -> tuple[int | None, Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    return path.stat().st_size, chunks()


def local_path(location: str) -> Path:
    """Resolve a plain path: as given, else relative to this component, else to the example."""
    path = Path(location).expanduser()
    if path.is_absolute() or path.exists():
        return path
    for base in (HERE, HERE.parents[1]):
        if (base / path).exists():
            return base / path
    raise FileNotFoundError(f"{location!r} not found (looked in ., {HERE}, {HERE.parents[1]})")


def open_source(url: str) -> tuple[str, int | None, Iterator[bytes]]:
    """Return the file name, the size when known, and the content as chunks."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("http", "https"):
        return Path(parsed.path).name or "download", *_http_chunks(url)
    if parsed.scheme == "s3":
        return Path(parsed.path).name, *_s3_chunks(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise ValueError(
            f"unsupported URL scheme {parsed.scheme!r} in {url!r}: use http(s), file, s3"
        )
    else:
        path = local_path(url)
    return path.name, *_file_chunks(path)


def count_rows(path: Path) -> int | None:
    """Data rows of a CSV file (quoted newlines handled), or None when it is not text."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    except (UnicodeDecodeError, csv.Error):
        return None


def go(args: argparse.Namespace) -> None:
    run = stepline.init(job_type="download_data")
    run.config.update(args)

    name, size, chunks = open_source(args.url)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / name
        logger.info("Downloading %s to %s", args.url, target)
        written = 0
        with (
            open(target, "wb") as fh,
            tqdm(total=size, unit="B", unit_scale=True, desc=name, mininterval=1.0) as bar,
        ):
            for chunk in chunks:
                fh.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
        rows = count_rows(target)
        logger.info("Downloaded %d bytes, %s rows", written, rows)

        artifact = stepline.Artifact(
            args.artifact_name,
            type=args.artifact_type,
            description=args.artifact_description,
            metadata={"source": args.url, "bytes": written, "rows": rows},
        )
        artifact.add_file(str(target), name=name)
        logger.info("Logging artifact %s", args.artifact_name)
        run.log_artifact(artifact)
        artifact.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Download a file and log it as an artifact")
    parser.add_argument(
        "--url",
        type=str,
        required=True,
        help="http(s)://, file:// or s3:// URL, or a path, of the file to download",
    )
    parser.add_argument(
        "--artifact_name", type=str, default="raw_data", help="Name of the artifact to log"
    )
    parser.add_argument(
        "--artifact_type", type=str, default="raw_data", help="Type of the artifact"
    )
    parser.add_argument(
        "--artifact_description",
        type=str,
        default="Data as downloaded",
        help="A brief description of the artifact",
    )
    go(parser.parse_args())
