"""S3ObjectStore: content-addressed objects in an S3 bucket, `s3://bucket/prefix/ab/cdef…`.

    store = S3ObjectStore.from_url("s3://stepline/objects")   # endpoint: AWS_ENDPOINT_URL
    store.put_file(Path("model.pkl"), oid); store.missing([oid, other])  # -> {other}
    store.presign_put(oid)                                     # a SigV4 URL a client PUTs to
    plan = store.start_multipart(oid, size)                    # objects >= 64 MiB: parts
    store.complete_multipart(oid, plan["upload_id"], size)    # after the client PUT the parts

Used by the team server (`stepline.server`). Presigned URLs are always SigV4 (some S3 servers
reject the SigV2 query strings boto3 may produce by default) and sign no Content-Type, so the
uploading client must send none. Reads check the digest before bytes reach their destination.

Multipart uploads are resumable: `start_multipart` reuses the object's unfinished upload, lists
its parts (ListParts) and presigns only the parts still missing. Part sizes follow from the object's
size alone, so a client that died and came back asks for the same parts. Completion checks that
every part is there with its size; unfinished uploads older than `multipart_expiry` seconds are
aborted by `abort_stale_uploads` (the server runs it as uploads arrive).
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import blake3

from stepline import settings as _settings
from stepline.errors import CorruptObject, NotFound, StoreError, UsageError, require
from stepline.store import writers
from stepline.store.hashing import hash_bytes
from stepline.store.objects import oid_to_path

#: presigned URLs are valid this long (seconds)
PRESIGN_SECONDS = 3600
#: S3 allows at most this many parts per multipart upload, and objects up to this size
MAX_PARTS = 10_000
MAX_SIZE = 5 << 40


def _check(oid: str) -> str:
    oid_to_path(Path("."), oid)  # raises StoreError for anything but a hex digest
    return oid


class S3ObjectStore:
    """Objects under `<prefix>/ab/cdef…` in one bucket."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        presign_endpoint: str | None = None,
        multipart_threshold: int = _settings.MULTIPART_THRESHOLD,
        part_size: int = _settings.MULTIPART_PART_SIZE,
        multipart_expiry: float = _settings.MULTIPART_EXPIRY,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else _client(None)
        #: signs the URLs clients use: another endpoint when they reach the bucket elsewhere
        self.presigner = _client(presign_endpoint) if presign_endpoint else self.client
        #: objects of at least this many bytes are uploaded in parts of `part_size` bytes
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.multipart_expiry = multipart_expiry
        self._swept = -math.inf
        self._sweep_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3ObjectStore:
        if not url.startswith("s3://"):
            raise StoreError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise StoreError(f"{url!r} names no bucket; use s3://bucket/prefix")
        return cls(bucket, prefix, **options)

    def __repr__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, oid: str) -> str:
        _check(oid)
        rest = f"{oid[:2]}/{oid[2:]}"
        return f"{self.prefix}/{rest}" if self.prefix else rest

    def _head(self, oid: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=self.key(oid)))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"S3 HEAD {self.key(oid)} failed: {exc}") from None

    def has(self, oid: str) -> bool:
        return self._head(oid) is not None

    def missing(self, oids: Iterable[str]) -> set[str]:
        wanted = sorted(set(oids))
        if not wanted:
            return set()
        with ThreadPoolExecutor(max_workers=min(16, len(wanted))) as pool:
            there = list(pool.map(self.has, wanted))
        return {oid for oid, ok in zip(wanted, there, strict=True) if not ok}

    def size_of(self, oid: str) -> int:
        head = self._head(oid)
        if head is None:
            raise StoreError(f"object {oid} is missing from {self}")
        return int(head["ContentLength"])

    def put_file(self, src: Path, oid: str) -> bool:
        if self.has(oid):
            return False
        self.client.upload_file(str(src), self.bucket, self.key(oid))
        return True

    def put_bytes(self, data: bytes) -> str:
        oid = hash_bytes(data)
        if not self.has(oid):
            self.client.put_object(Bucket=self.bucket, Key=self.key(oid), Body=data)
        return oid

    def open(self, oid: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(oid))["Body"]
        except ClientError:
            raise StoreError(f"object {oid} is missing from {self}") from None
        return body  # type: ignore[no-any-return]

    def get_bytes(self, oid: str) -> bytes:
        data = self.open(oid).read()
        if hash_bytes(data) != oid:
            raise CorruptObject(f"object {self.key(oid)} in {self.bucket} does not match {oid}")
        return bytes(data)

    def materialize(self, oid: str, dest: Path, link_types: Sequence[str] | None = None) -> None:
        """Download to a temp file beside `dest`, check the digest, then rename into place."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".stepline-{writers.tag()}.part"
        hasher = blake3.blake3()
        try:
            with self.open(oid) as body, open(tmp, "wb") as out:
                while chunk := body.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != oid:
                raise CorruptObject(f"object {self.key(oid)} in {self.bucket} does not match")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def copy_to(self, oid: str, out: BinaryIO) -> None:
        with self.open(oid) as body:
            shutil.copyfileobj(body, out, 1 << 20)

    def changed_at(self, oid: str) -> float | None:
        """When the object was last written (its LastModified, for gc's grace); None if absent."""
        head = self._head(oid)
        return None if head is None else float(head["LastModified"].timestamp())

    def delete(self, oid: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(oid))

    def oids(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""
        )
        for page in pages:
            for item in page.get("Contents", []):
                shard, _, rest = item["Key"][len(self.prefix) :].strip("/").partition("/")
                if len(shard) == 2 and rest:
                    yield shard + rest

    def presign_put(self, oid: str, seconds: int = PRESIGN_SECONDS) -> str:
        """A SigV4 URL to PUT the object's bytes to, with no Content-Type signed."""
        return str(
            self.presigner.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": self.key(oid)},
                ExpiresIn=seconds,
            )
        )

    def presign_get(self, oid: str, seconds: int = PRESIGN_SECONDS) -> str:
        return str(
            self.presigner.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.key(oid)},
                ExpiresIn=seconds,
            )
        )

    # -- multipart uploads --------------------------------------------------------------------
    def part_size_for(self, size: int) -> int:
        """The part size of an object of `size` bytes: `part_size`, larger when 10,000 parts of
        it would not hold the object (rounded up to whole MiB)."""
        least = math.ceil(size / MAX_PARTS / (1 << 20)) << 20
        return max(self.part_size, least)

    def _expected_parts(self, size: int) -> dict[int, int]:
        """Part number → the size that part must have."""
        part = self.part_size_for(size)
        count = max(1, math.ceil(size / part))
        return {n: min(part, size - (n - 1) * part) for n in range(1, count + 1)}

    def _parts(
        self, key: str, upload_id: str, expected: dict[int, int]
    ) -> dict[int, dict[str, Any]]:
        """The parts S3 holds of an unfinished upload (ListParts, every page). Some S3 servers
        (SeaweedFS) list a part sent twice twice: the one of the expected size is kept."""
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=key, UploadId=upload_id
        )
        out: dict[int, dict[str, Any]] = {}
        for page in pages:
            for part in page.get("Parts", []):
                n = int(part["PartNumber"])
                if n not in out or int(out[n]["Size"]) != expected.get(n):
                    out[n] = part
        return out

    def _uploads(self, key: str | None = None) -> list[dict[str, Any]]:
        """Unfinished multipart uploads under this store's prefix (or of one key)."""
        prefix = key if key is not None else (f"{self.prefix}/" if self.prefix else "")
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        found = [u for page in pages for u in page.get("Uploads", []) or []]
        return [u for u in found if key is None or u["Key"] == key]

    def start_multipart(
        self, oid: str, size: int, seconds: int = PRESIGN_SECONDS
    ) -> dict[str, Any]:
        """Begin (or resume) the multipart upload of `oid`: its id, part size, the part numbers S3
        already holds (`done`) and a presigned SigV4 PUT URL for each part still to send."""
        key = self.key(oid)
        _check_size(size)
        expected = self._expected_parts(size)
        now = time.time()
        # an unfinished upload of this object (a client died, or another one is sending it):
        # resume the newest, unless it is old enough for the sweep to abort it soon
        from botocore.exceptions import ClientError

        try:
            unfinished = self._uploads(key)
        except ClientError:  # no s3:ListBucketMultipartUploads: start afresh
            unfinished = []
        live = [
            u for u in unfinished if now - u["Initiated"].timestamp() < self.multipart_expiry / 2
        ]
        done: set[int] = set()
        if live:
            upload_id = str(max(live, key=lambda u: u["Initiated"])["UploadId"])
            held = self._parts(key, upload_id, expected)
            done = {
                n for n, want in expected.items() if int(held.get(n, {}).get("Size", -1)) == want
            }
        else:
            upload_id = str(
                self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
            )
        urls = {
            str(n): str(
                self.presigner.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "UploadId": upload_id,
                        "PartNumber": n,
                    },
                    ExpiresIn=seconds,
                )
            )
            for n in expected
            if n not in done
        }
        return {
            "upload_id": upload_id,
            "size": size,
            "part_size": self.part_size_for(size),
            "parts": urls,
            "done": sorted(done),
        }

    def complete_multipart(self, oid: str, upload_id: str, size: int) -> int:
        """Finish the upload once every part is there with its size; how many parts it had (0:
        someone else finished it first). Raises CorruptObject naming the parts that are wrong."""
        from botocore.exceptions import ClientError

        key = self.key(oid)
        _check_size(size)
        expected = self._expected_parts(size)
        gone = NotFound(
            f"no unfinished upload {upload_id[:16]!r} of {oid[:12]}… (aborted as abandoned, or"
            " never started); upload the object again"
        )
        if not upload_id or len(upload_id) > 1024 or not upload_id.isprintable():
            raise gone
        try:
            held = self._parts(key, upload_id, expected)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("NoSuchUpload", "InvalidArgument", "InvalidRequest", "404", "400"):
                raise StoreError(f"S3 ListParts of {key} failed: {exc}") from None
            head = self._head(oid)
            if head is not None and int(head["ContentLength"]) == size:
                return 0  # completed by another client sending the same object
            raise gone from None
        absent = [n for n in expected if n not in held]
        wrong = [n for n, want in expected.items() if n in held and int(held[n]["Size"]) != want]
        if absent or wrong:
            bad = CorruptObject(
                f"the upload of {oid[:12]}… is incomplete: part(s) {_ranges(absent) or 'none'}"
                f" missing, part(s) {_ranges(wrong) or 'none'} of the wrong size (parts of"
                f" {self.part_size_for(size):,} bytes make {size:,}); send those parts again"
            )
            bad.http_status = 409  # the client's upload is at fault, not the store
            raise bad
        parts = [{"PartNumber": n, "ETag": held[n]["ETag"]} for n in expected]
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as exc:
            raise StoreError(f"S3 refused to complete the upload of {key}: {exc}") from None
        if self.size_of(oid) != size:
            raise StoreError(f"S3 made {key} of {self.size_of(oid)} bytes, not {size}")
        return len(parts)

    def abort_stale_uploads(self, older_than: float | None = None) -> int:
        """Abort the unfinished multipart uploads begun more than `older_than` seconds ago
        (default `multipart_expiry`), deleting their parts; how many."""
        age = self.multipart_expiry if older_than is None else older_than
        now = time.time()
        gone = 0
        for u in self._uploads():
            if now - u["Initiated"].timestamp() >= age:
                from botocore.exceptions import ClientError

                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"]
                    )
                    gone += 1
                except ClientError:
                    pass  # finished or aborted meanwhile
        return gone

    def sweep_uploads(self) -> int:
        """`abort_stale_uploads`, at most once per half `multipart_expiry` (and once an hour);
        the server calls this as uploads begin."""
        with self._sweep_lock:
            now = time.monotonic()
            if now - self._swept < min(self.multipart_expiry / 2, 3600.0):
                return 0
            self._swept = now
        from botocore.exceptions import ClientError

        try:
            return self.abort_stale_uploads()
        except ClientError:  # not allowed to list uploads: a bucket lifecycle rule must do it
            return 0


def _check_size(size: int) -> None:
    if not 0 <= size <= MAX_SIZE:
        raise UsageError(f"an S3 object has 0 to {MAX_SIZE:,} bytes (5 TiB), not {size:,}")


def _client(endpoint: str | None) -> Any:
    require("boto3", "s3")
    import boto3
    from botocore.config import Config

    # a session of its own: boto3's default session keeps the first credentials it found, so
    # a store opened later with other AWS_* variables would sign with those
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL") or None,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def _ranges(numbers: list[int]) -> str:
    """`[1, 2, 3, 7]` → `1-3, 7` (for messages)."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    shown = ", ".join(out[:8])
    return shown + (", …" if len(out) > 8 else "")
