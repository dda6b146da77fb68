"""Opening the server's store: `--database` (SQLite path or URL, postgresql://…) and `--objects`.

    backend = open_store("postgresql://postgres@127.0.0.1:5432/stepline", "s3://stepline/objects")
    backend = open_store("/srv/stepline/db.sqlite", "file:///srv/stepline")   # objects/ under it

The metadata is a `LocalBackend` on that database; its object store is the folder's
`objects/` (file://) or an `S3ObjectStore` (s3://, endpoint from AWS_ENDPOINT_URL), with the
multipart threshold, part size, expiry and presign endpoint of `settings` (STEPLINE_MULTIPART_*,
STEPLINE_S3_PRESIGN_ENDPOINT).
"""

from __future__ import annotations

from pathlib import Path

from stepline import _settings
from stepline.backends.local import LocalBackend
from stepline.errors import UsageError
from stepline.settings import Settings


def database_url(database: str) -> str:
    if "://" in database:
        return database
    return f"sqlite:///{Path(database).expanduser().resolve()}"


def open_store(
    database: str,
    objects: str,
    state_dir: Path | None = None,
    settings: Settings | None = None,
) -> LocalBackend:
    url = database_url(database)
    given = settings or Settings()
    if objects.startswith("file://"):
        root = Path(objects[len("file://") :]).expanduser().resolve()
        return LocalBackend(root, url)
    if objects.startswith("s3://"):
        from stepline.store.s3 import S3ObjectStore

        store = S3ObjectStore.from_url(
            objects,
            presign_endpoint=given.presign_endpoint,
            multipart_threshold=given.multipart_threshold,
            part_size=given.multipart_part_size,
            multipart_expiry=given.multipart_expiry,
        )
        state = state_dir or _settings.cache_dir() / "server"
        backend = LocalBackend(state, url)
        backend._objects = store  # type: ignore[assignment]
        return backend
    raise UsageError(f"--objects must be file:///path or s3://bucket/prefix, not {objects!r}")
