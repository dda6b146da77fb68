"""External references: files that stay where they are, recorded by checksum or ETag."""

from __future__ import annotations

import os
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from stepline.errors import CorruptObject, NotFound, UsageError, require
from stepline.store.hashing import hash_bytes, hash_file
from stepline.store.manifest import Entry

SCHEMES = ("file", "http", "https", "s3")


def resolve(
    uri: str, name: str | None, checksum: bool, max_objects: int | None
) -> Iterator[tuple[str, Entry]]:
    """(entry name, entry) for each object `uri` names: one file, or each file below a folder/prefix."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in SCHEMES:
        raise UsageError(
            f"reference {uri!r} needs a scheme stepline can check: {', '.join(s + '://' for s in SCHEMES)}"
        )
    if parsed.scheme == "file":
        yield from _files(uri, Path(urllib.parse.unquote(parsed.path)), name, checksum, max_objects)
    elif parsed.scheme in ("http", "https"):
        yield (name or Path(parsed.path).name or parsed.netloc), _http(uri, checksum)
    else:
        yield from _s3(parsed, name, checksum, max_objects)


def _files(
    uri: str, path: Path, name: str | None, checksum: bool, max_objects: int | None
) -> Iterator[tuple[str, Entry]]:
    if not path.exists():
        raise NotFound(f"reference {uri!r}: {path} does not exist")
    if path.is_file():
        digest = hash_file(path) if checksum else hash_bytes(uri.encode())
        yield (name or path.name), Entry(digest, path.stat().st_size, ref=uri)
        return
    if not checksum:
        yield (name or path.name), Entry(hash_bytes(uri.encode()), 0, ref=uri)
        return
    count = 0
    for dirpath, _dirs, files in os.walk(path):
        for fname in sorted(files):
            fpath = Path(dirpath) / fname
            rel = fpath.relative_to(path).as_posix()
            count += 1
            if max_objects is not None and count > max_objects:
                raise UsageError(
                    f"reference {uri!r} holds more than max_objects={max_objects} files"
                )
            entry_name = f"{name}/{rel}" if name else rel
            yield entry_name, Entry(hash_file(fpath), fpath.stat().st_size, ref=fpath.as_uri())


def _http(uri: str, checksum: bool) -> Entry:
    if not checksum:
        return Entry(hash_bytes(uri.encode()), 0, ref=uri)
    request = urllib.request.Request(uri, method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as resp:
        etag = resp.headers.get("ETag")
        size = int(resp.headers.get("Content-Length") or 0)
    return Entry(f"etag:{etag.strip(chr(34))}" if etag else hash_bytes(uri.encode()), size, ref=uri)


def _s3(
    parsed: urllib.parse.ParseResult, name: str | None, checksum: bool, max_objects: int | None
) -> Iterator[tuple[str, Entry]]:
    require("boto3", "s3")
    import boto3

    client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        etag = head["ETag"].strip('"') + (f":{head['VersionId']}" if head.get("VersionId") else "")
        uri = f"s3://{bucket}/{key}"
        digest = f"etag:{etag}" if checksum else hash_bytes(uri.encode())
        yield (name or Path(key).name), Entry(digest, head["ContentLength"], ref=uri)
        return
    except client.exceptions.ClientError:
        pass
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for obj in page.get("Contents", []):
            count += 1
            if max_objects is not None and count > max_objects:
                raise UsageError(f"s3://{bucket}/{key} holds more than max_objects={max_objects}")
            rel = obj["Key"][len(key) :].lstrip("/")
            entry_name = f"{name}/{rel}" if name else rel
            ref = f"s3://{bucket}/{obj['Key']}"
            yield entry_name, Entry(f"etag:{obj['ETag'].strip(chr(34))}", obj["Size"], ref=ref)
    if count == 0:
        raise NotFound(f"reference s3://{bucket}/{key}: no such object or prefix")


def fetch(entry: Entry, dest: Path) -> None:
    """Copy a referenced file to `dest`, checking its content digest where one was recorded."""
    assert entry.ref is not None
    parsed = urllib.parse.urlparse(entry.ref)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if parsed.scheme == "file":
        src = Path(urllib.parse.unquote(parsed.path))
        if src.is_dir():
            return
        if not entry.digest.startswith("etag:") and entry.size and hash_file(src) != entry.digest:
            raise CorruptObject(f"referenced file {src} changed since it was logged")
        shutil.copyfile(src, dest)
    elif parsed.scheme in ("http", "https"):
        with urllib.request.urlopen(entry.ref, timeout=60) as resp, open(dest, "wb") as out:
            shutil.copyfileobj(resp, out)
    else:
        require("boto3", "s3")
        import boto3

        client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(dest))
