"""gc of a team server's store: objects nothing refers to, on `file://` and S3 object stores.

    report = server_gc(open_store(database, objects), dry_run=True)   # `stepline server gc`
    POST /api/v1/admin/gc {"dry_run": true}                          # a server admin's token

The rules are the local gc's (`backends.gc`): an object is kept when a committed version, a run's
logs or media, or a registered version refers to it, when it changed within the grace period
(an S3 object's age is its LastModified), or while an upload lease names it. The server leases
the objects a client is told to upload (`POST /objects/uploads`) for `UPLOAD_LEASE_SECONDS`, so
an object uploaded to S3 and not yet committed in a version is never taken. Expired leases are
dropped by gc.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import sqlalchemy as sa

from stepline.backends.gc import GRACE_SECONDS, GcReport, gc
from stepline.backends.local import LocalBackend
from stepline.store.leases import FOREIGN_LEASE_SECONDS

#: an upload lease counts this long after the server handed out the upload (a day, as the
#: lease of a draft written on another machine)
UPLOAD_LEASE_SECONDS = FOREIGN_LEASE_SECONDS

meta = sa.MetaData()
upload_leases = sa.Table(
    "server_upload_leases",
    meta,
    sa.Column("oid", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),
)


class UploadLeases:
    """The objects clients were told to upload, kept from gc until their lease expires."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        meta.create_all(engine, checkfirst=True)

    def add(self, oids: Iterable[str], seconds: float = UPLOAD_LEASE_SECONDS) -> None:
        """Lease `oids` (or extend their lease) for `seconds` from now."""
        rows = [{"oid": o, "expires_at": time.time() + seconds} for o in sorted(set(oids))]
        if not rows:
            return
        with self.engine.begin() as conn:
            known = set(
                conn.execute(
                    sa.select(upload_leases.c.oid).where(
                        upload_leases.c.oid.in_([r["oid"] for r in rows])
                    )
                ).scalars()
            )
            fresh = [r for r in rows if r["oid"] not in known]
            if fresh:
                conn.execute(sa.insert(upload_leases), fresh)
            if known:
                conn.execute(
                    sa.update(upload_leases)
                    .where(upload_leases.c.oid.in_(known))
                    .values(expires_at=rows[0]["expires_at"])
                )

    def held(self) -> set[str]:
        """The objects under a lease that has not expired."""
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    sa.select(upload_leases.c.oid).where(upload_leases.c.expires_at > time.time())
                ).scalars()
            )

    def expire(self) -> int:
        """Drop expired leases; how many."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                sa.delete(upload_leases).where(upload_leases.c.expires_at <= time.time())
            )
        return int(gone.rowcount or 0)


def server_gc(
    backend: LocalBackend,
    keep_last: int | None = None,
    dry_run: bool = False,
    grace_seconds: float = GRACE_SECONDS,
) -> GcReport:
    """The local gc over the server's store, honouring its upload leases as well."""
    leases = UploadLeases(backend.engine)
    if not dry_run:
        leases.expire()
    return gc(backend, keep_last, dry_run, grace_seconds, leased=leases.held)
