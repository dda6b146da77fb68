"""HttpBackend: the Backend port over a team server's HTTP API (`stepline server`).

    STEPLINE_TRACKING_URI=http://127.0.0.1:8080 python train.py    # init/log/artifacts unchanged

The token is `$STEPLINE_TOKEN`, else the one `stepline login URL` stored for that server
(`STEPLINE_UPLOAD_VIA_SERVER=1`: objects go through the server even when it has S3). One
keep-alive connection per thread (http.client) serves every call. Files are hashed and staged in a local
cache store (`<cache>/remote/<host_port>/`); committing a version asks the server which digests
it lacks and uploads only those — to presigned S3 URLs when the server has S3 objects (objects
from 64 MiB as multipart uploads, in parallel parts, resumed after a kill), else through the
server — then commits the version, which the server checks is complete. Downloads come from
presigned S3 GET URLs likewise, each checked against its digest as it is written; when the
bucket cannot be reached from here, both directions go through the server.
"""

from __future__ import annotations

import http.client
import json
import json as _json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from stepline import _settings, errors
from stepline.backends import wire
from stepline.backends.base import (
    ArtifactRecord,
    ExecutionRecord,
    ModelVersion,
    RegisteredModel,
    RunQuery,
    RunRecord,
    VersionRecord,
)
from stepline.backends.local import LocalBackend
from stepline.settings import current
from stepline.store.manifest import Manifest
from stepline.store.objects import LocalObjectStore
from stepline.store.statcache import StatCache

#: seconds to wait for a server answer (uploads stream, so this bounds silence, not size)
TIMEOUT = 60.0
#: PUTs to S3 (whole objects and multipart parts) one upload sends at once
PART_WORKERS = 8


class _Slice:
    """`length` bytes of an open file from where it stands: one part's request body."""

    def __init__(self, f: BinaryIO, length: int) -> None:
        self.f = f
        self.end = f.tell() + length

    def read(self, n: int = -1) -> bytes:
        left = self.end - self.f.tell()
        if left <= 0:
            return b""
        return self.f.read(left if n < 0 else min(n, left))

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int) -> int:  # a retry on a fresh connection starts the part over
        return self.f.seek(pos)


def token_file() -> Path:
    """Where `stepline login` keeps tokens: `<user config dir>/stepline/tokens.json` (0600)."""
    config = current().config_dir
    if config is not None:
        return config / "tokens.json"
    import platformdirs

    return Path(platformdirs.user_config_dir("stepline")) / "tokens.json"


def stored_token(url: str) -> str | None:
    path = token_file()
    try:
        return json.loads(path.read_text()).get(url.rstrip("/"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def store_token(url: str, token: str) -> Path:
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known[url.rstrip("/")] = token
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(known, f, indent=1)
    os.chmod(path.with_suffix(".tmp"), 0o600)
    os.replace(path.with_suffix(".tmp"), path)
    return path


class Client:
    """JSON calls to one server over keep-alive connections (one per thread, standard library
    only, so component environments need nothing beyond stepline's own dependencies), errors
    turned back into stepline's own classes."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.UsageError(f"not a server URL: {url!r}; use http://host:port")
        self._parts = parts
        self._base = parts.path.rstrip("/") + wire.PREFIX
        self.token = token if token is not None else (current().token or stored_token(self.url))
        self._local = threading.local()

    def _connection(self, parts: Any = None) -> http.client.HTTPConnection:
        parts = parts or self._parts
        key = (parts.scheme, parts.hostname, parts.port)
        pool = self._local.__dict__.setdefault("conns", {})
        conn = pool.get(key)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = pool[key] = cls(parts.hostname, parts.port, timeout=TIMEOUT, blocksize=1 << 20)
        return conn  # type: ignore[no-any-return]

    def _drop(self, parts: Any = None) -> None:
        parts = parts or self._parts
        conn = self._local.__dict__.get("conns", {}).pop(
            (parts.scheme, parts.hostname, parts.port), None
        )
        if conn is not None:
            conn.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | BinaryIO | _Slice | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        url: str | None = None,
    ) -> http.client.HTTPResponse:
        """Send one request and return the response with its body unread (retried once when a
        kept-alive connection turns out closed). `url` sends to another host (presigned S3)."""
        target = urlsplit(url) if url else None
        if target is not None:
            full = target.path + (f"?{target.query}" if target.query else "")
        else:
            full = self._base + path + (f"?{urlencode(params)}" if params else "")
        hdrs = dict(headers or {})
        if target is None and self.token:
            hdrs["authorization"] = f"Bearer {self.token}"
        body: Any = content
        if json is not None:
            body = _json.dumps(json).encode()
            hdrs["content-type"] = "application/json"
        if isinstance(body, bytes):
            hdrs["content-length"] = str(len(body))
        elif body is None and method in ("POST", "PUT", "PATCH"):
            hdrs["content-length"] = "0"
        start = body.tell() if hasattr(body, "tell") else None
        for attempt in (0, 1):
            conn = self._connection(target)
            try:
                conn.request(method, full, body=body, headers=hdrs)
                return conn.getresponse()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self._drop(target)
                if attempt or isinstance(exc, TimeoutError):
                    where = url.split("?", 1)[0] if url else self.url
                    raise errors.ServerUnavailable(f"cannot reach {where}: {exc}") from None
                if start is not None:
                    body.seek(start)
        raise AssertionError("unreachable")

    def check(self, resp: http.client.HTTPResponse) -> None:
        if resp.status < 400:
            return
        text = resp.read()
        try:
            err = _json.loads(text)["error"]
            raise wire.error_from(str(err["code"]), str(err["message"]))
        except (ValueError, KeyError, TypeError):
            pass
        raise errors.ServerUnavailable(
            f"{self.url} answered HTTP {resp.status}: {text[:200].decode(errors='replace')}"
        )

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """One request; the parsed JSON answer (or the bytes of a binary one)."""
        resp = self.request(method, path, **kw)
        try:
            self.check(resp)
            data = resp.read()
        except (http.client.HTTPException, OSError) as exc:  # the server went away mid-answer
            self._drop()
            raise errors.ServerUnavailable(f"{self.url} stopped answering: {exc!r}") from None
        if (resp.getheader("content-type") or "").startswith("application/json"):
            return _json.loads(data)
        return data

    def close(self) -> None:
        for conn in self._local.__dict__.get("conns", {}).values():
            conn.close()
        self._local.__dict__.clear()


class RemoteObjects(LocalObjectStore):
    """A local cache of a server's objects: files are staged here, then uploaded when needed."""

    def __init__(
        self, root: Path, stat_cache: StatCache, client: Client, proxy: bool = False
    ) -> None:
        super().__init__(root, stat_cache)
        self.client = client
        #: upload through the server even when it offers presigned S3 URLs
        self.proxy = proxy
        #: objects and bytes this client has uploaded (what a dedup'd upload leaves at 0)
        self.sent_objects = 0
        self.sent_bytes = 0
        #: presigned multipart parts this client has PUT (a resumed upload sends only the rest)
        self.sent_parts = 0
        #: objects downloaded from presigned S3 URLs, and through the server
        self.received_presigned = 0
        self.received_proxied = 0
        #: set once the bucket could not be reached from here: objects go through the server
        self.bucket_unreachable = False
        self._files_server = False
        self._count_lock = threading.Lock()
        #: called when the server cannot be reached for an object, with a retry of the call:
        #: returns (its result, True), or (None, False) when the caller now records offline
        #: (`backends.offline`); None raises `ServerUnavailable`
        self.unreachable: Callable[[Callable[[], Any], errors.ServerUnavailable], Any] | None = None

    def _reach(self, op: Callable[[], Any]) -> tuple[Any, bool]:
        try:
            return op(), True
        except errors.ServerUnavailable as exc:
            if self.unreachable is None:
                raise
            return self.unreachable(op, exc)  # type: ignore[no-any-return]

    def missing(self, oids: Iterable[str]) -> set[str]:
        """The digests neither staged here nor on the server (what ingest must still put; a
        staged one goes up when its version commits). An unreachable server lacks them all."""
        wanted = set(oids)
        lacking, reached = self._reach(lambda: self.server_missing(wanted))
        return {
            oid for oid in (lacking if reached else wanted) if not LocalObjectStore.has(self, oid)
        }

    def server_missing(self, oids: Iterable[str]) -> set[str]:
        """The digests the server lacks."""
        wanted = sorted(set(oids))
        if not wanted:
            return set()
        out: set[str] = set()
        for i in range(0, len(wanted), 5000):
            answer = self.client.call(
                "POST", "/objects/missing", json={"oids": wanted[i : i + 5000]}
            )
            out.update(answer["missing"])
        return out

    def upload(self, oids: Iterable[str], source: LocalObjectStore | None = None) -> int:
        """Send the server those of `oids` it lacks, read from this cache (or `source`, another
        local store: `stepline push`); how many were sent.

        Each goes where the server says: one presigned PUT, presigned parts of a multipart
        upload (big objects; parts S3 already holds from an interrupted upload are not sent
        again), or through the server — also when the bucket cannot be reached from here."""
        todo = sorted(self.server_missing(oids))
        if not todo:
            return 0
        store = source or self
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            paths = dict(zip(todo, pool.map(store.verify, todo), strict=True))
        sizes = {oid: path.stat().st_size for oid, path in paths.items()}
        plan: dict[str, Any] = {"urls": {}, "multipart": {}}
        if not (self.proxy or self.bucket_unreachable):
            body = {"oids": todo, "sizes": sizes, "proxy": False}
            plan = self.client.call("POST", "/objects/uploads", json=body)
        urls: dict[str, str] = plan.get("urls") or {}
        multipart: dict[str, dict[str, Any]] = plan.get("multipart") or {}
        # every PUT (whole objects and parts alike) shares one bounded pool
        jobs: list[tuple[str, Any]] = []
        for oid in todo:
            if oid in multipart:
                part_size = int(multipart[oid]["part_size"])
                for number, url in multipart[oid]["parts"].items():
                    offset = (int(number) - 1) * part_size
                    length = min(part_size, sizes[oid] - offset)
                    jobs.append((oid, (url, paths[oid], offset, length)))
            else:
                jobs.append((oid, None))
        failed: set[str] = set()

        def send(job: tuple[str, Any]) -> None:
            oid, part = job
            if oid in failed:
                return
            try:
                if part is not None:
                    self._put_part(*part)
                    self._count(parts=1)
                elif oid in urls:
                    self._put_part(urls[oid], paths[oid], 0, sizes[oid])
                else:
                    self._put_proxied(oid, paths[oid], sizes[oid])
                    self._count(objects=1)
            except errors.ServerUnavailable:
                if part is None and oid not in urls:
                    raise  # the server itself is away
                self.bucket_unreachable = True  # S3 is away: through the server instead
                failed.add(oid)

        with ThreadPoolExecutor(max_workers=max(1, min(PART_WORKERS, len(jobs)))) as pool:
            list(pool.map(send, jobs))
        for oid in todo:
            if oid in failed:
                self._put_proxied(oid, paths[oid], sizes[oid])
                self._count(objects=1)
            elif oid in multipart:
                body = {"oid": oid, "upload_id": multipart[oid]["upload_id"], "size": sizes[oid]}
                self.client.call("POST", "/objects/uploads/complete", json=body)
                self._count(objects=1)
            elif oid in urls:
                self._count(objects=1)
        return len(todo)

    def _count(self, objects: int = 0, parts: int = 0, sent: int = 0) -> None:
        with self._count_lock:
            self.sent_objects += objects
            self.sent_parts += parts
            self.sent_bytes += sent

    def _put_part(self, url: str, path: Path, offset: int, length: int) -> str:
        """PUT `length` bytes of `path` from `offset` to a presigned S3 URL (a whole object or
        one part); its ETag. No Content-Type is sent: it is not signed."""
        with open(path, "rb") as f:
            f.seek(offset)
            resp = self.client.request(
                "PUT",
                "",
                url=url,
                content=_Slice(f, length),
                headers={"content-length": str(length)},
            )
            try:
                text = resp.read()
            except (http.client.HTTPException, OSError) as exc:
                self.client._drop(urlsplit(url))
                raise errors.ServerUnavailable(f"S3 stopped answering: {exc!r}") from None
        if resp.status >= 300:
            raise errors.StoreError(
                f"S3 refused the upload of {path.name[:12]}… ({length:,} bytes from {offset:,}):"
                f" HTTP {resp.status} {text[:200].decode(errors='replace')}"
            )
        self._count(sent=length)
        return str(resp.getheader("etag") or "")

    def _put_proxied(self, oid: str, path: Path, size: int) -> None:
        with open(path, "rb") as f:
            self.client.call(
                "PUT",
                f"/objects/{oid}",
                content=f,
                headers={"content-length": str(size), "content-type": "application/octet-stream"},
            )
        self._count(sent=size)

    def fetch(self, oid: str) -> None:
        """Download one object into the cache (checked against its digest)."""
        self.fetch_many([oid])

    def fetch_many(self, oids: Iterable[str]) -> None:
        """Download the objects not yet cached, each checked against its digest as it is
        written: from presigned S3 GET URLs when the server has S3 and the bucket answers from
        here, else through the server."""
        wanted = sorted({oid for oid in oids if not LocalObjectStore.has(self, oid)})
        if not wanted:
            return
        urls: dict[str, str] = {}
        if not (self.proxy or self.bucket_unreachable or self._files_server):
            plan = self.client.call("POST", "/objects/downloads", json={"oids": wanted})
            urls = plan["urls"]
            self._files_server = plan["mode"] == "proxy"  # no S3 there: ask no more

        def one(oid: str) -> None:
            if oid in urls and not self.bucket_unreachable:
                try:
                    if self._get(oid, urls[oid]):
                        return
                except errors.ServerUnavailable:
                    self.bucket_unreachable = True  # through the server from now on
            self._get(oid, None)

        if len(wanted) == 1:
            one(wanted[0])
            return
        with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
            list(pool.map(one, wanted))

    def _get(self, oid: str, url: str | None) -> bool:
        """Stream one object from `url` (presigned S3) or the server into the cache, hashing
        as it goes; False when S3 answered with an error (the server's path says why)."""
        import blake3

        tmp = self._new_tmp()
        hasher = blake3.blake3()
        where = "S3" if url else "the server"
        try:
            if url is None:
                resp = self.client.request("GET", f"/objects/{oid}")
                self.client.check(resp)
            else:
                resp = self.client.request("GET", "", url=url)
                if resp.status != 200:
                    resp.read()
                    return False
            try:
                with open(tmp, "wb") as out:
                    while chunk := resp.read(1 << 20):
                        hasher.update(chunk)
                        out.write(chunk)
            except (http.client.HTTPException, OSError) as exc:
                self.client._drop(urlsplit(url) if url else None)
                raise errors.ServerUnavailable(
                    f"{where} stopped sending {oid[:12]}…: {exc!r}"
                ) from None
            if hasher.hexdigest() != oid:
                raise errors.CorruptObject(
                    f"{where} sent bytes for object {oid} that hash to"
                    f" {hasher.hexdigest()[:12]}…; nothing was written"
                )
            self.commit_staged([(tmp, oid)])
            with self._count_lock:
                if url:
                    self.received_presigned += 1
                else:
                    self.received_proxied += 1
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> str:
        oid = super().put_bytes(data)
        self._reach(lambda: self.upload([oid]))  # unreachable: kept staged, for the local store
        return oid

    def get_bytes(self, oid: str) -> bytes:
        self.fetch(oid)
        return super().get_bytes(oid)

    def open(self, oid: str) -> BinaryIO:
        self.fetch(oid)
        return open(self.path(oid), "rb")

    def materialize(self, oid: str, dest: Path, link_types: Sequence[str] | None = None) -> None:
        self.fetch(oid)
        super().materialize(oid, dest, link_types)


class HttpBackend:
    """The Backend port, each call one request to the server at `url`."""

    def __init__(self, url: str, token: str | None = None, cache: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = Client(self.url, token)
        parts = urlsplit(self.url)
        where = f"{parts.hostname}_{parts.port or 80}{parts.path.replace('/', '_')}"
        self.root = cache or _settings.cache_dir() / "remote" / where
        self.root.mkdir(parents=True, exist_ok=True)  # a cache: no notice, unlike a new store
        self.read_only = False
        self.store_read_only = False
        self.stat_cache = StatCache(self.root / "statcache.sqlite")
        proxy = current().upload_via_server
        self.objects = RemoteObjects(self.root, self.stat_cache, self.client, proxy)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<HttpBackend {self.url}>"

    def _c(self, method: str, path: str, **kw: Any) -> Any:
        return self.client.call(method, path, **kw)

    # runs ----------------------------------------------------------------------------------
    def create_run(self, rec: RunRecord) -> RunRecord:
        return wire.load_run(self._c("POST", "/runs", json=wire.dump_run(rec)))

    def update_run(self, run_id: str, **fields: Any) -> None:
        self._c("PATCH", f"/runs/{quote(run_id)}", json=fields)

    def move_run(self, run_id: str, project: str, renumber: bool = False) -> str:
        body = {"project": project, "renumber": renumber}
        return str(self._c("POST", f"/runs/{quote(run_id)}/move", json=body)["name"])

    def heartbeat(self, run_id: str) -> None:
        self._c("POST", f"/runs/{quote(run_id)}/heartbeat")

    def end_run(
        self,
        run_id: str,
        state: str | None,
        exit_code: int | None = None,
        ended_at: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> str | None:
        body = {"state": state, "exit_code": exit_code, "ended_at": ended_at, "info": info}
        return self._c("POST", f"/runs/{quote(run_id)}/end", json=body)["state"]  # type: ignore[no-any-return]

    def merge_run(self, run_id: str, column: str, patch: dict[str, Any]) -> dict[str, Any]:
        body = {"column": column, "patch": patch}
        return self._c("POST", f"/runs/{quote(run_id)}/merge", json=body)  # type: ignore[no-any-return]

    def get_run(self, ref: str, project: str | None = None) -> RunRecord:
        params = {"project": project} if project else {}
        return wire.load_run(self._c("GET", f"/runs/{quote(ref, safe='')}", params=params))

    def find_runs(self, query: RunQuery) -> list[RunRecord]:
        rows = self._c("POST", "/runs/search", json=wire.dump_query(query))
        return [wire.load_run(r) for r in rows]

    def create_execution(self, rec: ExecutionRecord) -> ExecutionRecord:
        return wire.load_execution(self._c("POST", "/executions", json=wire.dump_execution(rec)))

    def update_execution(
        self,
        execution_id: str,
        *,
        state: str | None = None,
        ended_at: float | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        given = {"state": state, "ended_at": ended_at, "parameters": parameters}
        body = {k: v for k, v in given.items() if v is not None}
        self._c("PATCH", f"/executions/{quote(execution_id)}", json=body)

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        return wire.load_execution(self._c("GET", f"/executions/{quote(execution_id)}"))

    def find_executions(
        self,
        project: str | None = None,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        given = {"project": project, "pipeline": pipeline, "state": state, "limit": limit}
        params = {k: v for k, v in given.items() if v is not None}
        return [wire.load_execution(e) for e in self._c("GET", "/executions", params=params)]

    def execution_runs(self, execution_id: str) -> list[RunRecord]:
        rows = self._c("GET", f"/executions/{quote(execution_id)}/runs")
        return [wire.load_run(r) for r in rows]

    def find_cached(
        self, project: str | None, cache_key: str, outputs: Sequence[str] | None = None
    ) -> tuple[RunRecord, list[VersionRecord]] | None:
        body = {
            "project": project,
            "cache_key": cache_key,
            "outputs": None if outputs is None else list(outputs),
        }
        hit = self._c("POST", "/runs/cached", json=body)
        if hit is None:
            return None
        return wire.load_run(hit["run"]), [wire.load_version(v) for v in hit["versions"]]

    def append_history(
        self, run_id: str, first_step: int, last_step: int, data: str, rows: list[Any] | None = None
    ) -> None:
        body = {"chunks": [[first_step, last_step, data]]}
        self._c("POST", f"/runs/{quote(run_id)}/history", json=body)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self._c("GET", f"/runs/{quote(run_id)}/history", params={"offset": offset})
            rows.extend(page["rows"])
            offset = page["next"]
        return rows

    def last_step(self, run_id: str) -> int:
        return int(self._c("GET", f"/runs/{quote(run_id)}/last_step")["step"])

    def put_log(self, run_id: str, stream: str, data: bytes) -> None:
        self._c("PUT", f"/runs/{quote(run_id)}/logs/{quote(stream)}", content=data)

    def get_log(self, run_id: str, stream: str) -> bytes | None:
        try:
            data = self._c("GET", f"/runs/{quote(run_id)}/logs/{quote(stream)}")
        except errors.NotFound:
            return None
        return bytes(data)

    def project_names(self) -> list[str]:
        return list(self._c("GET", "/projects"))

    # artifacts -----------------------------------------------------------------------------
    def commit_version(
        self,
        project: str,
        name: str,
        type: str,
        manifest: Manifest,
        description: str | None,
        metadata: dict[str, Any],
        aliases: Sequence[str],
        run_id: str | None,
    ) -> tuple[VersionRecord, bool]:
        self.objects.upload(e.digest for e in manifest.entries.values() if e.ref is None)
        body = {
            "project": project,
            "name": name,
            "type": type,
            "manifest": manifest.to_json(),
            "description": description,
            "metadata": metadata,
            "aliases": list(aliases),
            "run_id": run_id,
        }
        answer = self._c("POST", "/versions", json=body)
        return wire.load_version(answer["version"]), bool(answer["created"])

    def _art(self, project: str, name: str) -> str:
        return f"/artifacts/{quote(project, safe='')}/{quote(name, safe='')}"

    def resolve(
        self, project: str, name: str, selector: str, scope: str | None = None
    ) -> VersionRecord:
        params = {"selector": selector, **({"scope": scope} if scope else {})}
        return wire.load_version(
            self._c("GET", f"{self._art(project, name)}/resolve", params=params)
        )

    def set_alias(self, project: str, name: str, version: int, alias: str) -> None:
        path = f"{self._art(project, name)}/aliases/{quote(alias, safe='')}"
        self._c("PUT", path, json={"version": version})

    def remove_alias(self, project: str, name: str, alias: str) -> None:
        self._c("DELETE", f"{self._art(project, name)}/aliases/{quote(alias, safe='')}")

    def record_use(self, run_id: str, version_id: int) -> None:
        self._c("POST", f"/runs/{quote(run_id)}/uses", json={"version_id": version_id})

    def record_output(self, run_id: str, version_id: int) -> None:
        self._c("POST", f"/runs/{quote(run_id)}/outputs", json={"version_id": version_id})

    def producers(self, version_id: int) -> list[RunRecord]:
        return [wire.load_run(r) for r in self._c("GET", f"/versions/{version_id}/producers")]

    def consumers(self, version_id: int) -> list[RunRecord]:
        return [wire.load_run(r) for r in self._c("GET", f"/versions/{version_id}/consumers")]

    def list_artifacts(self, project: str | None = None) -> list[ArtifactRecord]:
        params = {"project": project} if project else {}
        return [wire.load_artifact(a) for a in self._c("GET", "/artifacts", params=params)]

    def list_versions(self, project: str, name: str) -> list[VersionRecord]:
        rows = self._c("GET", f"{self._art(project, name)}/versions")
        return [wire.load_version(v) for v in rows]

    def outputs(self, run_id: str) -> list[VersionRecord]:
        return [wire.load_version(v) for v in self._c("GET", f"/runs/{quote(run_id)}/outputs")]

    def inputs(self, run_id: str) -> list[VersionRecord]:
        return [wire.load_version(v) for v in self._c("GET", f"/runs/{quote(run_id)}/inputs")]

    def materialize(self, manifest: Manifest, root: Path) -> None:
        self.objects.fetch_many(e.digest for e in manifest.entries.values() if e.ref is None)
        LocalBackend.materialize(self, manifest, root)  # type: ignore[arg-type]

    def iter_versions(self) -> Iterator[VersionRecord]:
        for v in self._c("GET", "/versions"):
            yield wire.load_version(v)

    def delete_version(self, version_id: int) -> None:
        self._c("DELETE", f"/versions/{version_id}")

    # registry ------------------------------------------------------------------------------
    def _m(self, model: str) -> str:
        return f"/models/{quote(model, safe='')}"

    def register_version(
        self,
        model: str,
        version_id: int,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> int:
        body = {"version_id": version_id, "description": description, "tags": tags}
        return int(self._c("POST", f"{self._m(model)}/versions", json=body)["version"])

    def set_model_alias(self, model: str, version: int, alias: str) -> None:
        path = f"{self._m(model)}/aliases/{quote(alias, safe='')}"
        self._c("PUT", path, json={"version": version})

    def remove_model_alias(self, model: str, alias: str) -> None:
        self._c("DELETE", f"{self._m(model)}/aliases/{quote(alias, safe='')}")

    def update_model(
        self, model: str, description: str | None = None, tags: dict[str, Any] | None = None
    ) -> None:
        self._c("PATCH", self._m(model), json={"description": description, "tags": tags})

    def get_model(self, model: str) -> RegisteredModel:
        return _load_model(self._c("GET", self._m(model)))

    def list_models(self) -> list[RegisteredModel]:
        return [_load_model(m) for m in self._c("GET", "/models")]

    def registered_version_ids(self) -> set[int]:
        return set(self._c("GET", "/registered_version_ids"))

    def log_oids(self) -> set[str]:
        raise errors.UsageError(_ON_THE_SERVER)

    def media_oids(self) -> set[str]:
        raise errors.UsageError(_ON_THE_SERVER)

    def close(self) -> None:
        self.client.close()
        self.stat_cache.close()


_ON_THE_SERVER = (
    "gc and fsck of a team server's store run on the server itself: `stepline server gc"
    " --database … --objects …` there, or POST /api/v1/admin/gc with a server admin's token"
)


def _load_model(data: dict[str, Any]) -> RegisteredModel:
    versions = [ModelVersion(**v) for v in data.pop("versions", [])]
    return RegisteredModel(**data, versions=versions)
