"""Keyset pagination over runs: filter, sort on any column or config/summary key, page by cursor.

A page is `ORDER BY k1, …, id LIMIT n`; the next page starts after the last row's values
(`WHERE (k1, …, id) > (v1, …, id)`, spelled out so NULLs sort last in both directions). No OFFSET, so
page 2,000 of 100,000 runs costs what page 1 costs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stepline.backends.base import RunRecord
from stepline.errors import UsageError
from stepline.metadata import query
from stepline.metadata import schema as t
from stepline.metadata.runs import runs_select, to_run


@dataclass
class SortKey:
    """One ORDER BY term: a key (`created_at`, `summary.loss`), its direction and SQL expression."""

    key: str
    desc: bool
    expr: Any

    def value(self, run: RunRecord) -> Any:
        """This key's value in a run, as the database compares it."""
        return _lookup(run, self.key)


def _lookup(run: RunRecord, key: str) -> Any:
    name = {"group": "group", "job_type": "job_type"}.get(key, key)
    if name in query._COLUMNS:
        col = query._COLUMNS[name]
        return getattr(run, "group" if col == "grp" else col)
    root, _, path = key.partition(".")
    node: Any = getattr(run, query._JSON_ROOTS.get(root, root), None)
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def sort_keys(meta: Any, project: str | None, keys: Sequence[str]) -> list[SortKey]:
    """`["-summary.loss"]` → sort terms, each JSON key typed by a value the project has for it."""
    out = []
    for raw in keys:
        desc = raw.startswith("-")
        key = raw.lstrip("+-")
        sample: Any = 0.0
        if key.split(".", 1)[0] in query._JSON_ROOTS:
            sample = _sample(meta, project, key)
        try:
            expr = query._column(key, sample)
        except UsageError as exc:
            raise UsageError(f"cannot sort on {key!r}: {exc}") from None
        out.append(SortKey(key, desc, expr))
    return out


def _sample(meta: Any, project: str | None, key: str) -> Any:
    """A value of a JSON key in the newest run that has it, so numbers sort as numbers."""
    stmt = runs_select().where(query.where({key: {"$exists": True}}))
    if project:
        stmt = stmt.where(t.projects.c.name == project)
    with meta.engine.connect() as conn:
        row = conn.execute(stmt.order_by(t.runs.c.created_at.desc()).limit(1)).first()
    if row is None:
        return 0.0
    value = _lookup(to_run(row), key)
    return "" if isinstance(value, str) else value if isinstance(value, bool) else 0.0


def _after(keys: list[SortKey], values: list[Any]) -> Any:
    """Rows strictly after `values` in (keys…, id) order, NULLs last."""
    terms = []
    last = len(keys) - 1
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        if v is None:
            continue  # nothing sorts after NULL on this key; ties move on to the next key
        same = [
            kk.expr.is_(None) if vv is None else kk.expr == vv
            for kk, vv in zip(keys[:i], values[:i], strict=True)
        ]
        later = k.expr < v if k.desc else k.expr > v
        if i < last:
            later = sa.or_(later, k.expr.is_(None))
        terms.append(sa.and_(*same, later))
    return sa.or_(*terms) if terms else sa.false()


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != n:
        raise UsageError(f"page cursor {cursor!r} is not valid for this sort; start from page 1")
    return values


@dataclass
class Page:
    """One page of runs and the cursor of the next (None on the last page)."""

    runs: list[RunRecord]
    next: str | None


def page_runs(
    meta: Any,
    project: str | None,
    filters: dict[str, Any],
    order: Sequence[str],
    after: str | None = None,
    limit: int = 50,
) -> Page:
    """Runs matching `filters` in `order` (then id), `limit` at a time after cursor `after`."""
    keys = sort_keys(meta, project, order)
    keys.append(SortKey("id", keys[-1].desc if keys else False, t.runs.c.id))
    stmt = runs_select().where(query.where(filters))
    if project:
        stmt = stmt.where(t.projects.c.name == project)
    if after:
        stmt = stmt.where(_after(keys, decode_cursor(after, len(keys))))
    stmt = stmt.order_by(
        *[(k.expr.desc() if k.desc else k.expr.asc()).nulls_last() for k in keys]
    ).limit(limit + 1)
    with meta.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    runs = meta.runs.reap([to_run(r) for r in rows[:limit]])
    nxt = None
    if len(rows) > limit:
        last = runs[-1]
        nxt = encode_cursor([_norm(k.value(last)) for k in keys])
    return Page(runs, nxt)


def _norm(value: Any) -> Any:
    return (
        value if value is None or isinstance(value, str | int | float | bool) else json.dumps(value)
    )


def count_runs(meta: Any, project: str | None, filters: dict[str, Any]) -> int:
    """How many runs match (without filters, an index-only COUNT over the project's runs)."""
    stmt = sa.select(sa.func.count()).select_from(t.runs).where(query.where(filters))
    if project:
        pid = sa.select(t.projects.c.id).where(t.projects.c.name == project).scalar_subquery()
        stmt = stmt.where(t.runs.c.project_id == pid)
    with meta.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def group_counts(
    meta: Any, project: str | None, filters: dict[str, Any], by: str
) -> list[tuple[Any, int]]:
    """(value, count) of `group` or `job_type` among matching runs, largest first (at most 200)."""
    col = t.runs.c[query._COLUMNS[by]]
    stmt = (
        sa.select(col, sa.func.count().label("n"))
        .select_from(t.runs.join(t.projects, t.projects.c.id == t.runs.c.project_id))
        .where(query.where(filters))
        .group_by(col)
        .order_by(sa.desc("n"))
        .limit(200)
    )
    if project:
        stmt = stmt.where(t.projects.c.name == project)
    with meta.engine.connect() as conn:
        return [(r[0], int(r[1])) for r in conn.execute(stmt)]
