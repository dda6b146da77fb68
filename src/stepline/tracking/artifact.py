"""`Artifact`: a draft you add files to, then a logged version you read files from."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from stepline import settings as _settings
from stepline.backends import get_backend
from stepline.backends.base import Backend, VersionRecord
from stepline.errors import (
    Conflict,
    CorruptObject,
    InvalidValue,
    NotFound,
    PathEscape,
    StoreError,
    UsageError,
)
from stepline.formats.refs import parse_ref
from stepline.store.ingest import lease_for
from stepline.store.leases import Lease
from stepline.store.manifest import Entry, Manifest, clean_entry_path
from stepline.store.objects import copy_objects
from stepline.tracking import naming, references
from stepline.tracking.values import to_plain


class Artifact:
    """A named, typed, versioned collection of files.

    >>> art = stepline.Artifact("clean_sample.csv", type="clean_sample", metadata={"min_price": 10})
    >>> art.add_file("clean_sample.csv")
    >>> run.log_artifact(art, aliases=["reference"])
    """

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
    ) -> None:
        self.name = naming.check_name(name)
        if not isinstance(type, str) or not type.strip() or len(type) > 128:
            raise InvalidValue(
                f"artifact {name!r}: type must be a non-empty string of at most 128 chars"
            )
        self.type = naming.check_label(type, "artifact type") or type
        self.description = description
        self.metadata: dict[str, Any] = to_plain(metadata or {}, "metadata")
        self._entries: dict[str, Entry] = {}
        self._record: VersionRecord | None = None
        self._backend: Backend | None = None
        self._tmpdirs: list[tempfile.TemporaryDirectory[str]] = []
        self._created: bool | None = None
        self._lease: Lease | None = None  # the objects this draft refers to, kept from gc

    @classmethod
    def _from_record(cls, backend: Backend, record: VersionRecord) -> Artifact:
        art = cls.__new__(cls)
        art.name, art.type = record.name, record.type
        art.description, art.metadata = record.description, record.metadata
        art._entries = dict(record.manifest.entries)
        art._record, art._backend, art._tmpdirs, art._lease = record, backend, [], None
        art._created = None
        return art

    @property
    def new_version(self) -> bool | None:
        """After `log_artifact`: True when it made a new version, False when the content equalled
        an existing version (which it became). None before logging and for versions read back.

        >>> run.log_artifact(art); print("new" if art.new_version else f"unchanged ({art.version})")
        """
        return self._created

    def _store(self) -> Backend:
        if self._backend is None:
            self._backend = get_backend()
        return self._backend

    def _claim(self) -> Lease | None:
        """This draft's lease on its objects (see `store/leases.py`), made on first use."""
        if self._lease is None:
            self._lease = lease_for(self._store().objects)
        return self._lease

    def _release(self) -> None:
        lease = getattr(self, "_lease", None)
        if lease is not None:
            lease.release()
            self._lease = None

    def _draft(self, what: str) -> None:
        if self._record is not None:
            raise UsageError(
                f"artifact {self.qualified_name} is already logged; {what} needs a new"
                f" Artifact({self.name!r}, type={self.type!r})"
            )

    def _logged(self, what: str) -> VersionRecord:
        if self._record is None:
            raise UsageError(
                f"artifact {self.name!r} is not logged yet; {what} is known after run.log_artifact()"
            )
        return self._record

    # -- building a draft ---------------------------------------------------------------------
    def _put(self, name: str, entry: Entry, overwrite: bool) -> None:
        old = self._entries.get(name)
        if old is not None and old.digest != entry.digest and not overwrite:
            raise Conflict(
                f"artifact {self.name!r} already has a different file at {name!r};"
                " pass overwrite=True (add_dir: merge=True) to replace it"
            )
        self._entries[name] = entry

    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        is_tmp: bool = False,
        skip_cache: bool = False,
        policy: str = "mutable",
        overwrite: bool = False,
    ) -> Entry:
        """Add one file (stored now, so later edits to it cannot change this artifact)."""
        self._draft("add_file")
        path = Path(local_path)
        if not path.is_file():
            raise NotFound(f"add_file: {os.fspath(local_path)!r} is not a file")
        entry_name = clean_entry_path(name or path.name)
        from stepline.store.ingest import ingest

        entry = ingest(self._store().objects, [path], self._claim())[0]
        self._put(entry_name, entry, overwrite)
        return entry

    def add_dir(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        skip_cache: bool = False,
        policy: str = "mutable",
        merge: bool = False,
    ) -> None:
        """Add every file below a folder, under `name/` when given."""
        self._draft("add_dir")
        folder = Path(local_path)
        if not folder.is_dir():
            raise NotFound(f"add_dir: {os.fspath(local_path)!r} is not a directory")
        from stepline.store.ingest import ingest, walk

        prefix = clean_entry_path(name) if name else ""
        found = walk(folder, prefix)
        objects = self._store().objects
        entries = ingest(objects, [p for _, p in found], self._claim(), label=str(folder))
        for (entry_name, _), entry in zip(found, entries, strict=True):
            self._put(entry_name, entry, merge)

    @contextlib.contextmanager
    def new_file(
        self, name: str, mode: str = "x", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Write a file straight into the artifact: `with art.new_file("notes.txt") as f: ...`"""
        self._draft("new_file")
        entry_name = clean_entry_path(name)
        tmp = tempfile.TemporaryDirectory(prefix="stepline-new-")
        self._tmpdirs.append(tmp)
        path = Path(tmp.name) / Path(entry_name).name
        enc = None if "b" in mode else (encoding or "utf-8")
        with open(path, mode, encoding=enc) as f:
            yield f
        self.add_file(path, name=entry_name)

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> list[Entry]:
        """Record a file that stays where it is (file://, http(s)://, s3://): its checksum, not its bytes."""
        self._draft("add_reference")
        added = []
        for entry_name, entry in references.resolve(uri, name, checksum, max_objects):
            self._put(clean_entry_path(entry_name), entry, False)
            added.append(entry)
        return added

    def remove(self, name: str) -> None:
        self._draft("remove")
        if self._entries.pop(clean_entry_path(name), None) is None:
            raise NotFound(f"artifact {self.name!r} has no file {name!r}")

    def manifest(self) -> Manifest:
        return Manifest(dict(self._entries))

    # -- a logged version ---------------------------------------------------------------------
    @property
    def version(self) -> str:
        return f"v{self._logged('version').version}"

    @property
    def aliases(self) -> list[str]:
        return list(self._logged("aliases").aliases)

    @property
    def digest(self) -> str:
        return self._record.digest if self._record else self.manifest().digest()

    @property
    def project(self) -> str:
        return self._logged("project").project

    @property
    def qualified_name(self) -> str:
        return self._record.ref if self._record else self.name

    @property
    def size(self) -> int:
        return sum(e.size for e in self._entries.values())

    @property
    def created_at(self) -> float:
        return self._logged("created_at").created_at

    @property
    def id(self) -> int:
        return self._logged("id").id

    def files(self) -> list[str]:
        return sorted(self._entries)

    def to_dict(self, detail: bool = False) -> dict[str, Any]:
        """A logged version as JSON data (`stepline artifacts show --json`).

        The summary has ref, digest, aliases, size and created_at; `detail` adds the type,
        description, metadata, files (path → entry), and the producing and consuming run ids.
        """
        out: dict[str, Any] = {
            "ref": self.qualified_name,
            "digest": self.digest,
            "aliases": self.aliases,
            "size": self.size,
            "created_at": self.created_at,
        }
        if detail:
            producer = self.logged_by()
            out = {
                "ref": out["ref"],
                "type": self.type,
                "digest": out["digest"],
                "aliases": out["aliases"],
                "description": self.description,
                "metadata": self.metadata,
                "created_at": out["created_at"],
                "files": {p: e.to_json() for p, e in sorted(self.manifest().entries.items())},
                "logged_by": producer.id if producer else None,
                "used_by": [r.id for r in self.used_by()],
            }
        return out

    def wait(self, timeout: float | None = None) -> Artifact:
        """Logging commits synchronously, so there is nothing to wait for; returns the artifact."""
        return self

    def _default_root(self) -> Path:
        return _settings.current().artifact_dir / f"{self.name}:{self.version}"

    def download(self, root: str | os.PathLike[str] | None = None) -> str:
        """Put the version's files under `root` (default `./artifacts/NAME:vN`); returns the folder.

        Every file is checked against its digest as it is written: a reflink (copy-on-write) where
        the filesystem allows, else a copy, so editing a downloaded file never changes the store.
        `STEPLINE_LINK_TYPE=hardlink` (or `symlink`) shares the stored file instead: faster, but
        an edit through it damages the store. A corrupt object raises `CorruptObject`.
        """
        record = self._logged("download")
        target = Path(root) if root is not None else self._default_root()
        target.mkdir(parents=True, exist_ok=True)
        real_root = target.resolve()
        folders: dict[Path, bool] = {}  # each folder resolved once: a symlink in it may escape
        for path, entry in record.manifest.entries.items():
            dest = target / clean_entry_path(path)
            inside: bool | None
            if entry.ref is not None:  # a reference is fetched to its path: resolve it whole
                inside = dest.resolve().is_relative_to(real_root)
            else:  # a stored file replaces whatever is at its path (os.replace), never follows it
                inside = folders.get(dest.parent)
                if inside is None:
                    inside = dest.parent.resolve().is_relative_to(real_root)
                    folders[dest.parent] = inside
            if not inside:
                raise PathEscape(f"entry {path!r} would be written outside {target}")
        try:
            self._store().materialize(record.manifest, target)
        except CorruptObject as exc:
            raise CorruptObject(f"artifact {record.ref}, {exc}") from None
        for path, entry in record.manifest.entries.items():
            if entry.ref is not None:
                references.fetch(entry, target / path)
        return str(target)

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """The path of a single-file artifact's file, downloaded to `root`."""
        record = self._logged("file")
        if len(record.manifest.entries) != 1:
            raise UsageError(
                f"artifact {record.ref} has {len(record.manifest.entries)} files; file() is for"
                " single-file artifacts: use download() and pick one of"
                f" {', '.join(sorted(record.manifest.entries)[:5])}"
            )
        (only,) = record.manifest.entries
        return str(Path(self.download(root)) / only)

    def get_entry(self, name: str) -> Entry:
        try:
            return self._entries[clean_entry_path(name)]
        except KeyError:
            raise NotFound(
                f"artifact {self.qualified_name} has no file {name!r}; files: {', '.join(self.files()[:10])}"
            ) from None

    def verify(self, root: str | os.PathLike[str] | None = None) -> None:
        """Re-hash a downloaded copy and raise if any file differs from the manifest."""
        from stepline.errors import CorruptObject
        from stepline.store.hashing import hash_file

        record = self._logged("verify")
        base = Path(root) if root is not None else self._default_root()
        for path, entry in record.manifest.entries.items():
            if entry.ref is None and hash_file(base / path) != entry.digest:
                raise CorruptObject(f"{base / path} differs from {record.ref}")

    def logged_by(self) -> Any:
        """The run that produced this version (None when it was put without a run)."""
        from stepline.tracking.api import ApiRun

        record = self._logged("logged_by")
        if record.run_id is None:
            return None
        return ApiRun(self._store(), self._store().get_run(record.run_id))

    def used_by(self) -> list[Any]:
        """The runs that used this version as an input."""
        from stepline.tracking.api import ApiRun

        backend = self._store()
        return [ApiRun(backend, r) for r in backend.consumers(self._logged("used_by").id)]

    def save(self, project: str | None = None) -> Artifact:
        """Log this artifact from a short run of job_type 'auto' (like W&B's Artifact.save)."""
        from stepline.tracking.run import init

        with init(project=project, job_type="auto", reinit="create_new") as run:
            run.log_artifact(self)
        return self

    def __repr__(self) -> str:
        state = self._record.ref if self._record else "draft"
        return f"<Artifact {self.name} ({self.type}) {state}>"

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._release()
        for tmp in getattr(self, "_tmpdirs", []):
            with contextlib.suppress(Exception):
                tmp.cleanup()


def log_artifact(
    backend: Backend, art: Artifact, project: str, run_id: str | None, aliases: Sequence[str]
) -> Artifact:
    """Commit a draft in one transaction: a new version unless its content equals an existing
    version's (then that one), with `latest` and `aliases` moved to it; see `new_version`."""
    if art._record is not None:
        raise UsageError(f"artifact {art.qualified_name} is already logged")
    if not art._entries:
        raise UsageError(f"artifact {art.name!r} is empty; add files before logging it")
    for alias in aliases:
        if alias != "latest":
            naming.check_alias(alias)
    if art._backend is not None and art._backend is not backend:
        # files were stored in another store: copy their objects over
        oids = {e.digest for e in art._entries.values() if e.ref is None}
        copy_objects(art._backend.objects, backend.objects, oids)
    _check_objects(backend, art)
    record, created = backend.commit_version(
        project,
        art.name,
        art.type,
        art.manifest(),
        art.description,
        art.metadata,
        [a for a in aliases if a != "latest"],
        run_id,
    )
    art._record, art._backend = record, backend
    art._created = created
    art.description, art.metadata = record.description, record.metadata
    art._release()
    return art


def _check_objects(backend: Backend, art: Artifact, patience: float = 2.0) -> None:
    """Refuse to commit a manifest whose objects are not all in the store.

    gc moves an unreferenced object aside before it re-reads the leases, and puts a leased one
    back a moment later; a missing object is therefore looked for again for up to `patience`
    seconds before the commit is refused.
    """
    objects = backend.objects
    stored = [(name, e.digest) for name, e in sorted(art._entries.items()) if e.ref is None]
    absent = objects.missing(oid for _, oid in stored)
    deadline = time.monotonic() + patience
    while absent and time.monotonic() < deadline:
        time.sleep(0.05)
        absent = objects.missing(absent)
    missing = [(name, oid) for name, oid in stored if oid in absent]
    if missing:
        name, oid = missing[0]
        raise StoreError(
            f"artifact {art.name!r}: file {name!r} refers to object {oid[:12]}…,"
            f" which is no longer in {objects}; nothing was committed."
            " Add the file again (add_file/add_dir) and log the artifact again"
        )


#: `scope` default: the execution named by STEPLINE_SCOPE, if any
FROM_ENV: Any = object()


def resolve(
    backend: Backend,
    ref: str,
    project: str | None,
    type: str | None = None,
    scope: str | None = FROM_ENV,
) -> VersionRecord:
    """The version a reference names; `latest` prefers what execution `scope` produced or reused.

    `scope` defaults to STEPLINE_SCOPE (set by the pipeline runner for its steps); None ignores it.
    """
    if scope is FROM_ENV:
        scope = _settings.current().scope
    parsed = parse_ref(ref)
    target = parsed.project or project
    if target is None:
        target = _only_project_with(backend, parsed.name)
    record = backend.resolve(target, parsed.name, parsed.selector, scope=scope)
    if type is not None and record.type != type:
        raise Conflict(f"artifact {record.ref} has type {record.type!r}, not {type!r}")
    return record


def _only_project_with(backend: Backend, name: str) -> str:
    holders = sorted({a.project for a in backend.list_artifacts() if a.name == name})
    if len(holders) == 1:
        return holders[0]
    default = _settings.current().project
    if default:
        return default
    if not holders:
        from stepline.errors import ArtifactNotFound

        raise ArtifactNotFound(f"no project has an artifact {name!r}")
    raise UsageError(
        f"artifact {name!r} exists in several projects ({', '.join(holders)}); write project/{name}"
    )


def register_version(
    backend: Backend,
    record: VersionRecord,
    model: str,
    aliases: Sequence[str] = (),
    description: str | None = None,
    tags: dict[str, Any] | None = None,
) -> int:
    """Register `record` as registered model `model`'s next version (vK) and give it `aliases`.

    The model registry (`stepline.registry.register`) and W&B's `run.link_artifact` both use it.
    """
    b: Any = backend  # the registry methods are not on the Backend port yet
    naming.check_name(model, "registered model name")
    number = int(b.register_version(model, record.id, description, tags))
    for alias in aliases:
        b.set_model_alias(model, number, naming.check_alias(alias))
    return number


def use_artifact(
    backend: Backend, ref: Artifact | str, project: str, run_id: str, type: str | None = None
) -> Artifact:
    """Resolve `ref`, record the run → version edge, and return the version."""
    if isinstance(ref, Artifact):
        record = ref._logged("use_artifact")
    else:
        record = resolve(backend, ref, project, type)
    backend.record_use(run_id, record.id)
    return Artifact._from_record(backend, record)


def put_path(
    path: Path,
    name: str,
    type: str,
    project: str,
    description: str | None = None,
    aliases: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
    backend: Backend | None = None,
) -> Artifact:
    """Log a file or folder as a version from a run of job_type 'put' (the CLI's `artifacts put`).

    `backend` default: this process's (`get_backend()`).
    """
    from stepline.tracking.runs import start_run

    backend = backend or get_backend()
    art = Artifact(name, type, description=description, metadata=metadata)
    if path.is_dir():
        art.add_dir(path)
    elif path.is_file():
        art.add_file(path)
    else:
        raise NotFound(f"{path} does not exist")
    with start_run(backend, project=project, job_type="put") as run:
        run.log_artifact(art, aliases=list(aliases))
    return art
