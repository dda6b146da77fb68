"""LocalBackend: SQL metadata and a local object store, in this process. No server."""

from __future__ import annotations

from pathlib import Path

from stepline import _settings
from stepline.metadata.sql import SqlMetadata
from stepline.store.manifest import Manifest
from stepline.store.objects import LocalObjectStore
from stepline.store.statcache import StatCache


class LocalBackend(SqlMetadata):
    """Everything under one store folder (`.stepline/`), metadata in SQLite unless a URL says otherwise."""

    def __init__(self, root: Path, url: str | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        super().__init__(url or _settings.database_url(root))
        self.stat_cache = StatCache(_settings.cache_dir() / "statcache.sqlite")
        self.objects = LocalObjectStore(root, self.stat_cache)

    def materialize(self, manifest: Manifest, root: Path) -> None:
        for path, entry in manifest.entries.items():
            if entry.ref is None:
                self.objects.materialize(entry.digest, root / path)

    def put_log(self, run_id: str, stream: str, data: bytes) -> None:
        oid = self.objects.put_bytes(data)
        self.set_log_oid(run_id, stream, oid, len(data))

    def get_log(self, run_id: str, stream: str) -> bytes | None:
        oid = self.log_oid(run_id, stream)
        return None if oid is None else self.objects.get_bytes(oid)

    def close(self) -> None:
        super().close()
        self.stat_cache.close()
