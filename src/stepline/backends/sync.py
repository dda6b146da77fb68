"""push/pull: copy runs, history, logs, artifact versions, aliases and lineage between stores.

    report = push(LocalBackend(root), HttpBackend(url), project="nyc_airbnb")
    report = pull(HttpBackend(url), LocalBackend(root), "nyc_airbnb/random_forest_export:prod")

Idempotent and keyed by what the client made: a run is its client-generated id (one already on
the other side is not sent again), a version is its content digest (one the artifact already has
is not committed again, and none of its objects are sent). A run that started on the server and
finished in the local store when the server went away (`backends.offline`) is completed there
once: the rows past the server's last step, then its final state. The receiving side numbers versions,
so `v3` here may be `v1` there. An alias that points at another version on the receiving side is
a conflict: it is left as it is there and reported, never moved silently. Objects go only when
the receiving side lacks them (to presigned S3 URLs when the server offers them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from stepline.backends.base import Backend, RunQuery, RunRecord, VersionRecord
from stepline.backends.offline import MARK, is_partial
from stepline.errors import NotFound, RunNotFound
from stepline.states import RUN_TERMINAL

#: history rows per chunk sent
CHUNK_ROWS = 1000


@dataclass
class SyncReport:
    """What a push or pull did; a second identical one reports zeros everywhere but `*_kept`."""

    runs_sent: int = 0
    runs_kept: int = 0
    versions_sent: int = 0
    versions_kept: int = 0
    objects_sent: int = 0
    conflicts: list[str] = field(default_factory=list)


def _log_streams(src: Backend, run_id: str) -> list[str]:
    engine = getattr(src, "engine", None)
    if engine is None:
        return ["stdout", "stderr", "build"]
    import sqlalchemy as sa

    from stepline.metadata import schema as t

    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.run_logs.c.stream).where(t.run_logs.c.run_id == run_id)
            ).scalars()
        )


def _copy_objects(src: Backend, dst: Backend, oids: set[str]) -> int:
    """Make every object of `oids` present in `dst`; how many were sent."""
    if not oids:
        return 0
    dst_objects: Any = dst.objects
    src_objects: Any = src.objects
    if hasattr(dst_objects, "upload"):  # a server: send the missing ones from src's store
        before = dst_objects.sent_objects
        dst_objects.upload(oids, source=src_objects)
        return int(dst_objects.sent_objects - before)
    missing = sorted(oid for oid in oids if not dst_objects.has(oid))
    if hasattr(src_objects, "fetch_many"):  # a server: download them all first, in parallel
        src_objects.fetch_many(missing)
    for oid in missing:
        dst_objects.put_file(src_objects.verify(oid), oid)
    return len(missing)


def _media(rows: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for row in rows:
        for value in row.values():
            if isinstance(value, dict) and value.get("_type") in ("image-file", "table-file"):
                out.add(str(value["digest"]))
    return out


def copy_run(
    src: Backend, dst: Backend, rec: RunRecord, report: SyncReport, known: set[str] | None = None
) -> bool:
    """Send one run (record, history, logs, media) unless `dst` has its id (`known`: ids `dst`
    is already known to hold, so it is not asked again); True when sent."""
    there = known is not None and rec.id in known
    if not there:
        try:
            dst.get_run(rec.id)
            there = True
        except RunNotFound:
            pass
    if there:
        if is_partial(rec) and complete_run(src, dst, rec, report):
            return True
        report.runs_kept += 1
        return False
    rows = src.history(rec.id)
    report.objects_sent += _copy_objects(src, dst, _media(rows) | _media([rec.summary]))
    dst.create_run(replace(rec))
    _send_rows(dst, rec.id, rows)
    _send_logs(src, dst, rec.id)
    ended = {k: getattr(rec, k) for k in ("ended_at", "exit_code") if getattr(rec, k) is not None}
    if ended:
        dst.update_run(rec.id, **ended)
    report.runs_sent += 1
    return True


def _send_rows(dst: Backend, run_id: str, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK_ROWS):
        part = rows[i : i + CHUNK_ROWS]
        data = json.dumps(
            [
                [r["_step"], r["_timestamp"], {k: v for k, v in r.items() if k[:1] != "_"}]
                for r in part
            ]
        )
        dst.append_history(run_id, part[0]["_step"], part[-1]["_step"], data)


def _send_logs(src: Backend, dst: Backend, run_id: str) -> None:
    for stream in _log_streams(src, run_id):
        log = src.get_log(run_id, stream)
        if log is not None:
            dst.put_log(run_id, stream, log)


def complete_run(src: Backend, dst: Backend, rec: RunRecord, report: SyncReport) -> bool:
    """Finish on `dst` a run that started there and lost its server (`backends.offline`):
    the history rows past `dst`'s last step, config, summary, info, logs and the final state.
    True when something was sent; a completed run is left alone (nothing is sent twice)."""
    there = dst.get_run(rec.id)
    last = dst.last_step(rec.id)
    rows = [r for r in src.history(rec.id) if r["_step"] > last]
    done = (
        there.info.get(MARK) == rec.info.get(MARK)
        and there.state == rec.state
        and there.ended_at == rec.ended_at
    )
    if done and not rows:
        return False
    report.objects_sent += _copy_objects(src, dst, _media(rows) | _media([rec.summary]))
    _send_rows(dst, rec.id, rows)
    for column in ("config", "summary"):
        if getattr(rec, column):
            dst.merge_run(rec.id, column, getattr(rec, column))
    _send_logs(src, dst, rec.id)
    fields = {k: getattr(rec, k) for k in ("tags", "notes", "git_dirty", "command")}
    dst.update_run(rec.id, **{k: v for k, v in fields.items() if v is not None})
    final = rec.state if rec.state in RUN_TERMINAL else None
    dst.end_run(rec.id, final, exit_code=rec.exit_code, ended_at=rec.ended_at, info=rec.info)
    report.runs_sent += 1
    return True


Listings = dict[tuple[str, str], list[VersionRecord]]


def _listing(dst: Backend, v: VersionRecord, cache: Listings | None) -> list[VersionRecord]:
    """`dst`'s versions of `v`'s artifact ([] when it has none), asked once per `cache`."""
    key = (v.project, v.name)
    if cache is not None and key in cache:
        return cache[key]
    try:
        versions = dst.list_versions(v.project, v.name)
    except NotFound:
        versions = []
    if cache is not None:
        cache[key] = versions
    return versions


def copy_version(
    src: Backend,
    dst: Backend,
    v: VersionRecord,
    report: SyncReport,
    cache: Listings | None = None,
) -> VersionRecord:
    """Commit `v` in `dst` unless an equal version (same digest) is there; aliases follow unless
    they point elsewhere in `dst` (then a conflict is reported). `cache` keeps `dst`'s listings
    between calls (a push asks for each artifact's versions once, unless it changes them)."""
    versions = _listing(dst, v, cache)
    there = next((x for x in versions if x.digest == v.digest), None)
    theirs: dict[str, int] = {}
    for x in versions:
        theirs.update({a: x.version for a in x.aliases})
    wanted = [a for a in v.aliases if a != "latest"]
    clash = [a for a in wanted if a in theirs and (there is None or theirs[a] != there.version)]
    for a in clash:
        report.conflicts.append(
            f"{v.project}/{v.name}: alias {a!r} is on v{theirs[a]} there, on"
            f" {v.ref.rsplit(':', 1)[1]} here; left as it is there"
        )
    if there is not None:
        report.versions_kept += 1
        for a in wanted:
            if a not in theirs:
                dst.set_alias(v.project, v.name, there.version, a)
                if cache is not None:
                    cache.pop((v.project, v.name), None)
        return there
    stored = {e.digest for e in v.manifest.entries.values() if e.ref is None}
    report.objects_sent += _copy_objects(src, dst, stored)
    run_id = v.run_id
    if run_id is not None:
        try:
            dst.get_run(run_id)
        except RunNotFound:
            run_id = None
    record, _ = dst.commit_version(
        v.project,
        v.name,
        v.type,
        v.manifest,
        v.description,
        v.metadata,
        [a for a in wanted if a not in clash],
        run_id,
    )
    report.versions_sent += 1
    if cache is not None:
        cache.pop((v.project, v.name), None)
    return record


def push(src: Backend, dst: Backend, project: str | None = None) -> SyncReport:
    """Send `src`'s runs and versions (of `project`, or all) that `dst` does not have."""
    report = SyncReport()
    runs = sorted(src.find_runs(RunQuery(project=project)), key=lambda r: r.created_at)
    try:  # one listing instead of a lookup per run
        known = {r.id for r in dst.find_runs(RunQuery(project=project))}
    except NotFound:
        known = set()
    sent = {r.id for r in runs if copy_run(src, dst, r, report, known)}
    versions = sorted(
        (v for v in src.iter_versions() if project is None or v.project == project),
        key=lambda v: (v.project, v.name, v.version),
    )
    listings: Listings = {}
    mapping = {v.id: copy_version(src, dst, v, report, listings).id for v in versions}
    for run_id in sorted(sent):  # lineage of the runs sent now (edges are keyed, never doubled)
        for v in src.inputs(run_id):
            if v.id in mapping:
                dst.record_use(run_id, mapping[v.id])
        for v in src.outputs(run_id):
            if v.id in mapping:
                dst.record_output(run_id, mapping[v.id])
    return report


def pull(
    src: Backend, dst: Backend, ref: str, *, lineage: bool = False
) -> tuple[VersionRecord, SyncReport]:
    """Fetch one artifact version (`project/name:alias|vN`) and the run that made it; with
    `lineage`, everything upstream of it too: the inputs of that run, the runs that made those,
    and so on, with the use edges between them, so `stepline lineage` shows the same graph here."""
    from stepline.formats.refs import parse_ref

    parsed = parse_ref(ref)
    project = parsed.project
    if project is None:
        holders = sorted({a.project for a in src.list_artifacts() if a.name == parsed.name})
        if len(holders) != 1:
            raise NotFound(f"name the project: {ref!r} is in {holders or 'no project'}")
        project = holders[0]
    v = src.resolve(project, parsed.name, parsed.selector)
    report = SyncReport()
    pulled = _pull_version(src, dst, v, report)
    if lineage:
        _pull_upstream(src, dst, v, report)
    return pulled, report


def _pull_version(
    src: Backend, dst: Backend, v: VersionRecord, report: SyncReport
) -> VersionRecord:
    if v.run_id is not None:  # the run first, so the version is committed as its output
        copy_run(src, dst, src.get_run(v.run_id), report)
    return copy_version(src, dst, v, report)


def _pull_upstream(src: Backend, dst: Backend, v: VersionRecord, report: SyncReport) -> None:
    """Walk from `v` up through producing runs and their inputs; each run and version once."""
    seen_runs: set[str] = set()
    seen_versions = {v.id}
    todo = [v]
    while todo:
        version = todo.pop()
        if version.run_id is None or version.run_id in seen_runs:
            continue
        seen_runs.add(version.run_id)
        for used in src.inputs(version.run_id):
            there = _pull_version(src, dst, used, report)
            dst.record_use(version.run_id, there.id)
            if used.id not in seen_versions:
                seen_versions.add(used.id)
                todo.append(used)
