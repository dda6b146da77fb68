"""Projects, the runs table (filter, sort, columns, groups, keyset pages) and one run's page."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from stepline.backends.base import RunRecord, VersionRecord
from stepline.errors import UsageError
from stepline.metadata import paging
from stepline.metadata import schema as t
from stepline.tracking import filters as flt
from stepline.ui.data import series

PAGE_SIZE = 50
#: columns always shown; the rest are chosen from the project's config and summary keys
FIXED = ["name", "state", "group", "job_type", "created_at", "runtime"]
GROUP_BY = ("group", "job_type")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` → `{"a.b": 1}`; logged media (`{"_type": ...}`) stay whole."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not v.get("_type"):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def run_brief(r: RunRecord) -> dict[str, Any]:
    """A run as one table row."""
    return {
        "id": r.id,
        "name": r.name,
        "project": r.project,
        "state": r.state,
        "group": r.group,
        "job_type": r.job_type,
        "tags": r.tags,
        "created_at": r.created_at,
        "ended_at": r.ended_at,
        "runtime": (r.ended_at or r.heartbeat_at or r.created_at) - r.created_at,
    }


def version_brief(v: VersionRecord) -> dict[str, Any]:
    return {
        "ref": v.ref,
        "project": v.project,
        "name": v.name,
        "type": v.type,
        "version": f"v{v.version}",
        "digest": v.digest,
        "size": v.size,
        "file_count": v.file_count,
        "aliases": v.aliases,
        "created_at": v.created_at,
        "run_id": v.run_id,
    }


def projects(meta: Any) -> dict[str, Any]:
    """Every project with its run and artifact counts and its last activity."""
    runs = (
        sa.select(
            t.runs.c.project_id,
            sa.func.count().label("runs"),
            sa.func.max(t.runs.c.created_at).label("last"),
        )
        .group_by(t.runs.c.project_id)
        .subquery()
    )
    arts = (
        sa.select(t.artifacts.c.project_id, sa.func.count().label("artifacts"))
        .group_by(t.artifacts.c.project_id)
        .subquery()
    )
    stmt = (
        sa.select(
            t.projects.c.name, t.projects.c.created_at, runs.c.runs, runs.c.last, arts.c.artifacts
        )
        .outerjoin(runs, runs.c.project_id == t.projects.c.id)
        .outerjoin(arts, arts.c.project_id == t.projects.c.id)
        .order_by(t.projects.c.name)
    )
    with meta.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    can_read = getattr(meta, "can_read", None)  # a store scoped to one person's projects
    if can_read is not None:
        rows = [r for r in rows if can_read(r.name)]
    return {
        "projects": [
            {
                "name": r.name,
                "runs": r.runs or 0,
                "artifacts": r.artifacts or 0,
                "last_activity": r.last or r.created_at,
            }
            for r in rows
        ]
    }


_MEMO: dict[tuple[str, str, str], tuple[float, Any, Any]] = {}
MEMO_TTL = 10.0


def _memo(meta: Any, project: str, what: str, compute: Any) -> Any:
    """`compute()`, kept for 10 s or until the project gets a new run (its run counter moves).

    Paging through a project re-renders the same column picker and total on every page; this
    saves re-reading 200 runs and re-counting 100,000 for each.
    """
    with meta.engine.connect() as conn:
        stamp = conn.execute(
            sa.select(t.projects.c.run_counter).where(t.projects.c.name == project)
        ).scalar()
    key = (str(getattr(meta, "url", id(meta))), project, what)
    hit = _MEMO.get(key)
    if hit is not None and hit[1] == stamp and time.monotonic() - hit[0] < MEMO_TTL:
        return hit[2]
    value = compute()
    if len(_MEMO) > 256:
        _MEMO.clear()
    _MEMO[key] = (time.monotonic(), stamp, value)
    return value


def key_catalogue(meta: Any, project: str, sample: int = 200) -> dict[str, list[str]]:
    """Config and summary keys of the project's newest `sample` runs (what the column picker offers)."""
    return _memo(meta, project, "keys", lambda: _read_catalogue(meta, project, sample))  # type: ignore[no-any-return]


def _read_catalogue(meta: Any, project: str, sample: int) -> dict[str, list[str]]:
    stmt = (
        sa.select(t.runs.c.config, t.runs.c.summary)
        .join(t.projects, t.projects.c.id == t.runs.c.project_id)
        .where(t.projects.c.name == project)
        .order_by(t.runs.c.created_at.desc())
        .limit(sample)
    )
    config: dict[str, None] = {}
    summary: dict[str, None] = {}
    with meta.engine.connect() as conn:
        for c, s in conn.execute(stmt):
            config.update(dict.fromkeys(flatten(c or {})))
            summary.update(
                dict.fromkeys(
                    k
                    for k, v in flatten(s or {}).items()
                    if not k.startswith("_") and not isinstance(v, dict)
                )
            )
    return {"config": sorted(config), "summary": sorted(summary)}


def _default_columns(keys: dict[str, list[str]]) -> list[str]:
    return [f"config.{k}" for k in keys["config"][:3]] + [
        f"summary.{k}" for k in keys["summary"][:4]
    ]


def runs_table(
    meta: Any,
    project: str,
    filter_text: str = "",
    sort: str = "-created_at",
    columns: list[str] | None = None,
    group_by: str | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> dict[str, Any]:
    """One page of a project's runs; `next` is the cursor of the page after it."""
    _check_project(meta, project)
    if group_by and group_by not in GROUP_BY:
        raise UsageError(f"cannot group runs by {group_by!r}; choose one of {', '.join(GROUP_BY)}")
    limit = max(1, min(int(limit), 500))
    filters = flt.parse(flt.split(filter_text)) if filter_text.strip() else {}
    keys = key_catalogue(meta, project)
    chosen = columns if columns else _default_columns(keys)
    order = [s for s in sort.split(",") if s.strip()] or ["-created_at"]
    if group_by:
        order = [group_by, *order]
    page = paging.page_runs(meta, project, filters, order, after=after, limit=limit)
    rows = []
    for r in page.runs:
        row = run_brief(r)
        row["values"] = {c: _cell(paging._lookup(r, c)) for c in chosen}
        rows.append(row)
    out: dict[str, Any] = {
        "project": project,
        "filter": filter_text,
        "filters": filters,
        "sort": sort,
        "group_by": group_by,
        "columns": chosen,
        "keys": keys,
        "total": _memo(
            meta,
            project,
            "count:" + json.dumps(filters, sort_keys=True, default=str),
            lambda: paging.count_runs(meta, project, filters),
        ),
        "limit": limit,
        "after": after,
        "next": page.next,
        "runs": rows,
    }
    if group_by:
        out["groups"] = [
            {"value": v, "count": n}
            for v, n in paging.group_counts(meta, project, filters, group_by)
        ]
    return out


def _check_project(meta: Any, project: str) -> None:
    with meta.engine.connect() as conn:
        meta._project_id(conn, project, create=False)


def _cell(v: Any) -> Any:
    if isinstance(v, dict) and v.get("_type"):
        return f"<{v['_type']}>"
    if isinstance(v, dict | list):
        return json.dumps(v)
    return v


def media(meta: Any, run_id: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Logged images and tables: every history row's media and the summary's, newest step last."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    with meta.engine.connect() as conn:
        chunks = conn.execute(
            sa.select(t.history.c.data)
            .where(t.history.c.run_id == run_id, t.history.c.data.like('%-file"%'))
            .order_by(t.history.c.first_step)
        ).scalars()
        for chunk in chunks:
            for step, _ts, row in json.loads(chunk):
                for k, v in row.items():
                    if isinstance(v, dict) and v.get("_type") in ("image-file", "table-file"):
                        found[(k, v["digest"])] = {"key": k, "step": step, **v}
    for k, v in flatten(summary).items():
        if isinstance(v, dict) and v.get("_type") in ("image-file", "table-file"):
            found.setdefault((k, v["digest"]), {"key": k, "step": None, **v})
    return list(found.values())


def run_page(meta: Any, api: Any, run_ref: str) -> dict[str, Any]:
    """Everything the run page shows (charts' data is fetched separately, downsampled)."""
    r = api.run(run_ref).record
    summary = {k: v for k, v in r.summary.items() if not k.startswith("_")}
    logs = {}
    for stream in ("stdout", "stderr"):
        data = meta.get_log(r.id, stream)
        if data is not None:
            text = data.decode("utf-8", "replace")
            logs[stream] = {
                "size": len(data),
                "text": text[-200_000:],
                "truncated": len(text) > 200_000,
            }
    cached_from = r.info.get("cached_from")
    reuse = None
    if cached_from:
        reuse = {
            "original": cached_from,
            "cache_key": r.info.get("cache_key"),
            "outputs": r.info.get("outputs") or {},
            "inputs": r.info.get("inputs_resolved") or {},
        }
    logged = media(meta, r.id, r.summary)
    for m in logged:
        if m["_type"] == "table-file":
            try:
                body = json.loads(meta.objects.get_bytes(m["digest"]))
                m["columns"] = body.get("columns", [])
                m["data"] = body.get("data", [])[:500]
                m["rows"] = len(body.get("data", []))
            except Exception:  # a missing object shows as missing, the page still renders
                m["columns"], m["data"], m["rows"] = [], [], 0
    return {
        "project": r.project,
        "run": {
            **run_brief(r),
            "notes": r.notes,
            "host": r.host,
            "pid": r.pid,
            "command": r.command,
            "git_commit": r.git_commit,
            "git_dirty": r.git_dirty,
            "python_version": r.python_version,
            "exit_code": r.exit_code,
            "heartbeat_at": r.heartbeat_at,
        },
        "config": flatten(r.config),
        "summary": {k: _cell(v) for k, v in flatten(summary).items()},
        "info": r.info,
        "metrics": series.metric_keys(meta, r.id),
        "media": logged,
        "logs": logs,
        "inputs": [version_brief(v) for v in meta.inputs(r.id)],
        "outputs": [version_brief(v) for v in meta.outputs(r.id)],
        "reused": reuse,
        "generated_at": time.time(),
    }


def compare(meta: Any, run_ids: list[str], all_keys: bool = False) -> dict[str, Any]:
    """Runs side by side: config and summary rows (only those that differ unless `all_keys`)."""
    if len(run_ids) < 2:
        raise UsageError("compare needs at least two runs: ?runs=ID1,ID2")
    runs = [meta.get_run(i) for i in run_ids]

    def side(get: Any) -> list[dict[str, Any]]:
        flat = [flatten(get(r)) for r in runs]
        keys = sorted(set().union(*flat))
        rows = []
        for k in keys:
            if k.startswith("_"):
                continue
            vals = [_cell(f.get(k)) for f in flat]
            same = all(v == vals[0] for v in vals)
            if all_keys or not same:
                rows.append({"key": k, "values": vals, "same": same})
        return rows

    metric_sets = [set(series.metric_keys(meta, r.id)) for r in runs]
    common = sorted(set().union(*metric_sets), key=lambda k: (-sum(k in m for m in metric_sets), k))
    axes = _numeric_axes(runs)
    return {
        "runs": [run_brief(r) for r in runs],
        "all": all_keys,
        "config": side(lambda r: r.config),
        "summary": side(lambda r: r.summary),
        "metrics": common,
        "parallel": _parallel(runs, axes),
    }


def _parallel(runs: list[RunRecord], axes: list[str], height: int = 260) -> dict[str, Any]:
    """Parallel coordinates drawn as SVG by the template: axis ranges and each run's polyline."""
    axes = axes[:12]
    ticks: list[dict[str, Any]] = []
    lines = []
    values = {r.id: {a: paging._lookup(r, a) for a in axes} for r in runs}
    for i, a in enumerate(axes):
        nums = [
            v[a]
            for v in values.values()
            if isinstance(v[a], int | float) and not isinstance(v[a], bool)
        ]
        ticks.append(
            {
                "axis": a,
                "x": 40 + 140 * i,
                "lo": min(nums) if nums else None,
                "hi": max(nums) if nums else None,
            }
        )
    for r in runs:
        pts = []
        for tk in ticks:
            v = values[r.id][tk["axis"]]
            if not isinstance(v, int | float) or isinstance(v, bool) or tk["lo"] is None:
                continue
            span = (tk["hi"] - tk["lo"]) or 1.0
            frac = 0.5 if tk["hi"] == tk["lo"] else (v - tk["lo"]) / span
            pts.append((tk["x"], round(30 + (1 - frac) * (height - 20), 1)))
        lines.append({"run": r.id, "name": r.name, "values": values[r.id], "points": pts})
    return {"axes": axes, "ticks": ticks, "lines": lines}


def _numeric_axes(runs: list[RunRecord]) -> list[str]:
    """Config then summary keys that hold a number in at least one run (parallel coordinates)."""
    axes: list[str] = []
    for root in ("config", "summary"):
        keys = {
            k
            for r in runs
            for k, v in flatten(getattr(r, root)).items()
            if isinstance(v, int | float) and not isinstance(v, bool) and not k.startswith("_")
        }
        axes += [f"{root}.{k}" for k in sorted(keys)]
    return axes
