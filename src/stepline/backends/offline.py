"""A team server's backend that keeps recording when the server cannot be reached.

    backend = FallbackBackend(HttpBackend(url), local_root)   # what get_backend() gives for http://

Every call goes to the server while it answers. A process that records (it made a write) and
then cannot reach the server does not fail:

- **down from the start** (the first write fails): the process records into the local store
  (`local_root`, the project's `.stepline/`) from then on; its runs are ordinary local runs that
  `stepline push` sends whole later.
- **lost mid-run** (writes went through before): the call is retried with backoff for
  `retry_seconds` (`STEPLINE_OFFLINE_AFTER`, default 30), so a restarting server costs nothing.
  If it is still gone, the runs and executions this process wrote are created in the local store
  with the same ids (config, summary, info as this process last saw them) and
  `info.offline = {"server": URL, "partial": true, "at": …}`, and everything goes there from then
  on. `stepline push` completes such a run on the server: it sends the history rows past the
  server's last step, the summary, config, info, logs and the final state, once.

A write whose answer was lost may or may not have been stored by the server. Metric rows are
therefore keyed by step: a retried chunk the server already has (its `last_step` covers it) is not
sent again, and push sends only rows past the server's last step, so no point is lost or doubled.
The notice is a `SteplineWarning`, given once per process (the CLI prints it as `warning: …`).
A process that only reads (`stepline runs ls`) is told the server is unavailable, as before; a
component's process (started with `STEPLINE_RUN_ID`) records from the start, and the run it was
started for, when it has to make it locally, is marked as started on the server. A process that
went local stays local. The versions a process sees on the server (committed, resolved) are noted
in the machine's server cache (`versions.jsonl`), so a later step that went local can still use
what an earlier step logged (its files are in that cache too); other versions only the server
holds cannot be used meanwhile, and `vN` numbers are the local store's.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepline import errors
from stepline.backends.base import ExecutionRecord, RunRecord, VersionRecord
from stepline.states import RUN_TERMINAL
from stepline.store.objects import LocalObjectStore

if TYPE_CHECKING:
    from stepline.backends.http import HttpBackend
    from stepline.backends.local import LocalBackend
    from stepline.settings import Settings

#: seconds a process that has reached the server retries a failing call before going local
RETRY_SECONDS = 30.0
#: what the local copy of a run that started on the server carries in its `info`
MARK = "offline"
#: the versions this machine saw on a server (in its cache folder), read by a resolve offline
JOURNAL = "versions.jsonl"
#: past this size the journal starts again (the previous one is kept as `versions.old`)
JOURNAL_BYTES = 32 << 20

#: the port's methods that change something (a process that called one "records")
WRITES = frozenset(
    {
        "create_run",
        "update_run",
        "move_run",
        "heartbeat",
        "end_run",
        "merge_run",
        "append_history",
        "put_log",
        "create_execution",
        "update_execution",
        "commit_version",
        "set_alias",
        "remove_alias",
        "record_use",
        "record_output",
        "delete_version",
        "register_version",
        "set_model_alias",
        "remove_model_alias",
        "update_model",
    }
)


def is_partial(rec: RunRecord) -> bool:
    """A local run that started on a server and was finished here (push completes it there)."""
    mark = rec.info.get(MARK)
    return isinstance(mark, dict) and bool(mark.get("partial"))


class OfflineObjects(LocalObjectStore):
    """The local store's objects, taking over those the server client had staged in its cache
    (a draft's files, a logged image) when they are asked for."""

    def __init__(self, local: LocalObjectStore, staged: LocalObjectStore) -> None:
        super().__init__(
            local.root.parent,
            local.stat_cache,
            fsync=local.fsync,
            read_only=local.read_only,
            link_types=local.link_types,
        )
        self._staged = staged

    def adopt(self, oids: set[str]) -> set[str]:
        """Copy those of `oids` the client staged into this store; the ones neither holds."""
        absent = LocalObjectStore.missing(self, oids)
        left = set()
        for oid in absent:
            if LocalObjectStore.has(self._staged, oid):
                self.put_file(self._staged.path(oid), oid)
            else:
                left.add(oid)
        return left

    def missing(self, oids: Any) -> set[str]:
        return self.adopt(set(oids))


class FallbackBackend:
    """The Backend port on a server, falling back to a local store (see the module docstring)."""

    def __init__(
        self,
        server: HttpBackend,
        local_root: Path,
        settings: Settings,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.server = server
        self.url = server.url
        #: the local store: run files live here, and child processes record here when offline
        self.root = local_root
        self.settings = settings
        self.retry_seconds = retry_seconds
        self.offline = False
        self._local: LocalBackend | None = None
        self._lock = threading.RLock()
        #: the server answered this process (or its runner, for a component's process started
        #: with STEPLINE_RUN_ID): a loss now is "mid-run", retried before going local
        self._answered = bool(settings.run_id)
        #: this process records: a component's process does from the start
        self._wrote = bool(settings.run_id)
        self._runs: dict[str, RunRecord] = {}  # what this process wrote, as it last saw it
        self._written: set[str] = set()
        self._executions: dict[str, ExecutionRecord] = {}
        self._remembered: set[tuple[str, str, str]] = set()
        server.objects.unreachable = self._objects_unreachable

    def __repr__(self) -> str:
        where = f"local {self.root}" if self.offline else self.url
        return f"<FallbackBackend {self.url} ({where})>"

    # -- where calls go -----------------------------------------------------------------------
    @property
    def objects(self) -> Any:
        if self.offline:
            return self.local().objects
        return self.server.objects

    @property
    def read_only(self) -> bool:
        return False

    @property
    def store_read_only(self) -> bool:
        return False

    def local(self) -> LocalBackend:
        with self._lock:
            if self._local is None:
                from stepline.backends.local import LocalBackend

                local = LocalBackend(self.root, settings=self.settings)
                local._objects = OfflineObjects(local.objects, self.server.objects)
                self._local = local
            return self._local

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        target = getattr(self.server, name)
        if not callable(target):
            return getattr(self.local(), name) if self.offline else target

        def call(*args: Any, **kw: Any) -> Any:
            return self._call(name, args, kw)

        return call

    def _call(self, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        write = name in WRITES
        if not self.offline:
            try:
                result = self._on_server(name, args, kw)
            except errors.ServerUnavailable as exc:
                if not (write or self._wrote):
                    raise  # a reader is told: it records nothing that could be kept
                self._go_offline(exc)
            else:
                if write:
                    self._wrote = self._answered = True
                self._track(name, args, kw, result)
                return result
        return self._locally(name, args, kw)

    def _on_server(self, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        """The call on the server; a process that reached it before retries for a while."""
        method = getattr(self.server, name)
        if name == "append_history":
            return self._retrying(lambda: method(*args, **kw), lambda: self._stored(args, kw))
        return self._retrying(lambda: method(*args, **kw))

    def _retrying(self, op: Callable[[], Any], done: Callable[[], bool] | None = None) -> Any:
        """`op()`, tried again with backoff for `retry_seconds` once the server has answered
        this process (`done()`: the server already has what a lost answer was to)."""
        if not self._answered:
            return op()
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.25
        while True:
            try:
                return op()
            except errors.ServerUnavailable:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                if done is not None and done():
                    return None

    def _stored(self, args: tuple[Any, ...], kw: dict[str, Any]) -> bool:
        run_id, _, last = (list(args) + [kw.get(k) for k in ("first_step", "last_step")])[:3]
        try:
            return int(self.server.last_step(str(run_id))) >= int(last)
        except errors.ServerUnavailable:
            return False

    def _objects_unreachable(
        self, op: Callable[[], Any], exc: errors.ServerUnavailable
    ) -> tuple[Any, bool]:
        """The server client could not reach the server for an object (it has staged it):
        (what `op` gave, True) when a retry reached it, else (None, False), now offline."""
        if not self.offline:
            try:
                return self._retrying(op), True
            except errors.ServerUnavailable as again:
                exc = again
        self._go_offline(exc)
        return None, False

    # -- the switch ---------------------------------------------------------------------------
    def _go_offline(self, exc: errors.ServerUnavailable) -> None:
        with self._lock:
            if self.offline:
                return
            from sqlalchemy.exc import IntegrityError

            local = self.local()
            for rec in list(self._runs.values()):
                if rec.id not in self._written or rec.state in RUN_TERMINAL:
                    continue  # a run finished on the server has nothing more to record
                try:
                    local.get_run(rec.id)
                    continue  # another process of this run (a component) got here first
                except errors.RunNotFound:
                    pass
                mark = {"server": self.url, "partial": True, "at": time.time()}
                try:
                    local.create_run(replace(rec, info={**rec.info, MARK: mark}))
                except (errors.Conflict, IntegrityError):  # that other process was faster
                    pass
            for ex in self._executions.values():
                local.create_execution(replace(ex))
            self.offline = True
        runs = sorted(self._written)
        what = f"run {', '.join(runs)} goes on" if runs else "this process records"
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        warnings.warn(
            f"{cause}; {what} in the local store {self.root}, and"
            f" `stepline push --to {self.url}` sends it there later",
            errors.SteplineWarning,
            stacklevel=_outside_stepline(),
        )

    def _locally(self, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        local = self.local()
        objects: Any = local.objects
        if name == "commit_version":  # its objects may still be in the server client's cache
            manifest = kw.get("manifest", args[3] if len(args) > 3 else None)
            if manifest is not None:
                objects.adopt({e.digest for e in manifest.entries.values() if e.ref is None})
        elif name in ("append_history", "merge_run"):  # logged media staged for the server
            text = json.dumps([args, kw], default=str)
            if "-file" in text:
                objects.adopt(_media_oids(text))
        elif name == "resolve":
            try:
                return local.resolve(*args, **kw)
            except errors.NotFound:
                if not self._import(str(args[0] if args else kw["project"]),
                                    str(args[1] if len(args) > 1 else kw["name"])):  # fmt: skip
                    raise
        elif name == "create_run" and args and args[0].id == self.settings.run_id:
            # the run this component process was started for is on the server: mark it so
            # push completes it there
            mark = {"server": self.url, "partial": True, "at": time.time()}
            args = (replace(args[0], info={**args[0].info, MARK: mark}), *args[1:])
        return getattr(local, name)(*args, **kw)

    # -- versions this machine saw on the server, for a resolve offline ------------------------
    @property
    def _journal(self) -> Path:
        return Path(self.server.root) / JOURNAL

    def _remember(self, v: VersionRecord) -> None:
        """Note a version the server committed or resolved, in the machine's server cache (so
        a component process that goes offline can still use what an earlier step logged)."""
        key = (v.project, v.name, v.digest)
        if key in self._remembered:
            return
        self._remembered.add(key)
        line = json.dumps(
            {
                "project": v.project,
                "name": v.name,
                "type": v.type,
                "version": v.version,
                "digest": v.digest,
                "manifest": v.manifest.to_json(),
                "description": v.description,
                "metadata": v.metadata,
                "aliases": v.aliases,
            }
        )
        journal = self._journal
        with contextlib.suppress(OSError):
            if journal.stat().st_size > JOURNAL_BYTES:  # keep one older generation
                os.replace(journal, journal.with_suffix(".old"))
        with open(journal, "a", encoding="utf-8") as f:  # one write: lines do not mix
            f.write(line + "\n")

    def _import(self, project: str, name: str) -> bool:
        """Commit in the local store the versions of `project/name` the journal holds (objects
        taken from the server cache); whether there were any."""
        from stepline.store.manifest import Manifest

        lines: list[str] = []
        for path in (self._journal.with_suffix(".old"), self._journal):
            with contextlib.suppress(FileNotFoundError):
                lines += path.read_text(encoding="utf-8").splitlines()
        found: dict[str, dict[str, Any]] = {}
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut short by a crash
                continue
            if entry.get("project") == project and entry.get("name") == name:
                found[entry["digest"]] = entry  # the last note of a version wins (its aliases)
        local = self.local()
        objects: Any = local.objects
        for entry in sorted(found.values(), key=lambda e: int(e["version"])):
            manifest = Manifest.from_json(entry["manifest"])
            objects.adopt({e.digest for e in manifest.entries.values() if e.ref is None})
            aliases = [a for a in entry["aliases"] if a != "latest"]
            local.commit_version(project, name, entry["type"], manifest, entry["description"],
                                 entry["metadata"], aliases, None)  # fmt: skip
        return bool(found)

    # -- what this process wrote, kept to carry over ------------------------------------------
    def _track(self, name: str, args: tuple[Any, ...], kw: dict[str, Any], result: Any) -> None:
        if name == "commit_version":
            self._remember(result[0])
        elif name == "resolve":
            self._remember(result)
        elif name == "create_run":
            self._runs[result.id] = replace(result)
            self._written.add(result.id)
        elif name == "get_run" and isinstance(result, RunRecord):
            self._runs.setdefault(result.id, replace(result))
        elif name == "create_execution":
            self._executions[result.id] = replace(result)
        elif name == "update_execution":
            ex = self._executions.get(str(args[0]) if args else str(kw.get("execution_id")))
            if ex is not None:
                for key in ("state", "ended_at", "parameters"):
                    if kw.get(key) is not None:
                        setattr(ex, key, kw[key])
        elif name in WRITES and args and isinstance(args[0], str) and args[0] in self._runs:
            rec = self._runs[args[0]]
            self._written.add(rec.id)
            if name == "update_run":
                for key, value in kw.items():
                    if hasattr(rec, key):
                        setattr(rec, key, value)
            elif name == "merge_run" and isinstance(result, dict):
                setattr(rec, str(args[1]), dict(result))
            elif name == "move_run":
                rec.project, rec.name = str(args[1]), str(result)
            elif name == "end_run":
                state, *rest = [*list(args[1:]), None, None, None]
                exit_code = kw.get("exit_code", rest[0])
                ended_at = kw.get("ended_at", rest[1])
                info = kw.get("info", rest[2])
                rec.state = str(result or state or rec.state)
                rec.exit_code = exit_code if exit_code is not None else rec.exit_code
                rec.ended_at = ended_at if ended_at is not None else rec.ended_at
                if info:
                    rec.info = {**rec.info, **info}

    def close(self) -> None:
        self.server.close()
        if self._local is not None:
            self._local.close()


def _outside_stepline() -> int:
    """The `stacklevel` of the first caller outside stepline (where the warning points)."""
    import sys

    package = str(Path(__file__).resolve().parent.parent)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def _media_oids(text: str) -> set[str]:
    """The digests of logged media named in `text` (history rows, a summary patch)."""
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("_type") in ("image-file", "table-file") and "digest" in value:
                out.add(str(value["digest"]))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and "-file" in value and value[:1] == "[":
            try:
                walk(json.loads(value))
            except ValueError:
                pass

    walk(json.loads(text))
    return out
