"""The team server's object routes: which objects it lacks, where a client uploads or downloads
each one (presigned S3 URLs, a multipart plan, or this server), and the streamed PUT and GET.

    app.include_router(object_routes(backend, server.principal, who, leases))
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import blake3
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from stepline import errors
from stepline.backends import wire
from stepline.backends.local import LocalBackend
from stepline.server.accounts import RANK, Principal
from stepline.server.body import bad, int64, need, optional
from stepline.server.gc import UploadLeases


def check_oid(oid: str) -> str:
    """A digest as the store names objects (64 hex digits), else a 400."""
    if len(oid) != 64 or not all(c in "0123456789abcdef" for c in oid):
        raise errors.UsageError(f"not an object id (64 lowercase hex digits): {oid[:80]!r}")
    return oid


def object_routes(
    backend: LocalBackend,
    principal: Callable[[Request], Principal],
    who: Callable[..., Principal],
    uploading: UploadLeases,
) -> APIRouter:
    """The `/objects` routes over `backend`'s object store; `who` is the request's principal
    (a dependency), `uploading` the leases that keep objects being uploaded from gc."""
    router = APIRouter(prefix=wire.PREFIX)
    b = backend

    def _any_write(p: Principal) -> None:
        if not any(RANK[r] >= RANK["write"] for r in p.scope.values()):
            raise errors.Forbidden("uploading objects needs a token with write access")

    @router.post("/objects/missing", tags=["objects"])
    def missing(body: dict[str, Any] = Body(...), p: Principal = Depends(who)) -> dict[str, Any]:
        """Which of `oids` the server lacks (the client uploads only those)."""
        oids = [check_oid(str(o)) for o in optional(body, "oids", list) or []]
        if hasattr(b.objects, "missing"):
            gone = b.objects.missing(oids)
        else:
            gone = {o for o in oids if not b.objects.has(o)}
        return {"missing": sorted(gone)}

    @router.post("/objects/uploads", tags=["objects"])
    def uploads(body: dict[str, Any] = Body(...), p: Principal = Depends(who)) -> dict[str, Any]:
        """Where to upload each object: a presigned S3 PUT URL, for objects of `sizes` at least
        the multipart threshold a resumable multipart upload (parts S3 already holds are listed
        in `done` and get no URL), or this server (`proxy`)."""
        _any_write(p)
        oids = [check_oid(str(o)) for o in optional(body, "oids", list) or []]
        sizes = {
            check_oid(str(o)): int64(n, "a size")
            for o, n in (optional(body, "sizes", dict) or {}).items()
        }
        if any(n < 0 for n in sizes.values()):
            raise bad("sizes must be >= 0")
        uploading.add(oids)  # kept from gc until committed in a version (server/gc.py)
        presign = getattr(b.objects, "presign_put", None)
        if presign is None or body.get("proxy"):
            return {"mode": "proxy", "urls": {}, "multipart": {}}
        store: Any = b.objects
        store.sweep_uploads()  # abandoned multipart uploads go, now and then
        big = {o for o in oids if sizes.get(o, -1) >= store.multipart_threshold}
        return {
            "mode": "presigned",
            "urls": {o: presign(o) for o in oids if o not in big},
            "multipart": {o: store.start_multipart(o, sizes[o]) for o in sorted(big)},
        }

    @router.post("/objects/uploads/complete", tags=["objects"])
    def complete_upload(
        body: dict[str, Any] = Body(...), p: Principal = Depends(who)
    ) -> dict[str, Any]:
        """Finish a multipart upload once every part is in S3 with its size (409 naming the
        missing or wrong parts otherwise); `parts` is 0 when another client finished it."""
        _any_write(p)
        oid = check_oid(need(body, "oid", str))
        size = int64(body.get("size"), "size")
        complete = getattr(b.objects, "complete_multipart", None)
        if complete is None:
            raise errors.UsageError("this server keeps objects in files: PUT /objects/{oid}")
        parts = complete(oid, need(body, "upload_id", str), size)
        return {"oid": oid, "size": size, "parts": parts}

    @router.post("/objects/downloads", tags=["objects"])
    def downloads(body: dict[str, Any] = Body(...), p: Principal = Depends(who)) -> dict[str, Any]:
        """Where to download each object: a presigned S3 GET URL, or this server (`proxy`:
        `GET /objects/{oid}`). Clients check each object's digest as they write it."""
        if not p.scope:
            raise errors.Forbidden("reading objects needs a token with read access")
        oids = [check_oid(str(o)) for o in optional(body, "oids", list) or []]
        presign = getattr(b.objects, "presign_get", None)
        if presign is None:
            return {"mode": "proxy", "urls": {}}
        return {"mode": "presigned", "urls": {o: presign(o) for o in oids}}

    @router.put("/objects/{oid}", tags=["objects"])
    async def put_object(oid: str, request: Request) -> dict[str, Any]:
        """Upload one object's bytes, streamed to a temp file; its size and digest are checked."""
        p = await run_in_threadpool(principal, request)
        _any_write(p)
        check_oid(oid)
        expected = request.headers.get("content-length")
        hasher = blake3.blake3()
        size = 0
        fd, name = tempfile.mkstemp(prefix="stepline-upload-", dir=_upload_dir(b))
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            # the client's upload is at fault, not the store: 400 and 409, not a server error
            if expected is not None and int(expected) != size:
                short = errors.StoreError(f"upload of {oid} ended after {size} of {expected} bytes")
                short.http_status = 400
                raise short
            if hasher.hexdigest() != oid:
                wrong = errors.CorruptObject(
                    f"uploaded bytes hash to {hasher.hexdigest()[:12]}…, not {oid[:12]}…"
                )
                wrong.http_status = 409
                raise wrong
            created = await run_in_threadpool(b.objects.put_file, tmp, oid)
        finally:
            tmp.unlink(missing_ok=True)
        return {"oid": oid, "size": size, "created": bool(created)}

    @router.get("/objects/{oid}", tags=["objects"])
    def get_object(oid: str, p: Principal = Depends(who)) -> StreamingResponse:
        check_oid(oid)
        if not p.scope:
            raise errors.Forbidden("reading objects needs a token with read access")
        size = b.objects.size_of(oid) if b.objects.has(oid) else None
        if size is None:
            raise errors.NotFound(f"no object {oid}")

        def chunks() -> Iterator[bytes]:
            opener = getattr(b.objects, "open", None)
            if opener is not None:
                with opener(oid) as f:
                    while chunk := f.read(1 << 20):
                        yield chunk
            else:
                with open(b.objects.path(oid), "rb") as f:
                    while chunk := f.read(1 << 20):
                        yield chunk

        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={"content-length": str(size)},
        )

    return router


def _upload_dir(backend: LocalBackend) -> str:
    path = backend.root / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
