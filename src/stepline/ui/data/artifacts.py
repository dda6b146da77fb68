"""An artifact's page (versions, aliases, files, metadata) and the diff between two versions.

The diff is computed on the server from the two manifests (content digests make "changed" exact
and free), then per file: a unified text diff, and for CSV files the schema change, the row counts
and a sample of the rows added, removed and changed (matched on a key column when one is unique).
"""

from __future__ import annotations

import csv
import difflib
import io
from typing import Any

from stepline.backends.base import VersionRecord
from stepline.errors import UsageError
from stepline.store.manifest import diff as manifest_diff
from stepline.ui.data.runs import run_brief, version_brief

TEXT_LIMIT = 1_000_000  # bytes of each side a text diff reads
DIFF_LINES = 2_000
SAMPLE_ROWS = 20
_TEXT_EXT = (
    ".txt",
    ".csv",
    ".tsv",
    ".json",
    ".yaml",
    ".yml",
    ".md",
    ".py",
    ".cfg",
    ".ini",
    ".toml",
    ".jsonl",
    ".log",
    ".xml",
    ".html",
    ".sql",
)


def artifacts(meta: Any, project: str) -> dict[str, Any]:
    """The artifacts of a project with their types, version counts and aliases."""
    out = []
    for a in meta.list_artifacts(project):
        out.append(
            {
                "name": a.name,
                "type": a.type,
                "versions": a.version_count,
                "latest": None if a.latest is None else f"v{a.latest}",
                "created_at": a.created_at,
            }
        )
    return {"project": project, "artifacts": out}


def _version(v: VersionRecord) -> dict[str, Any]:
    return {
        **version_brief(v),
        "description": v.description,
        "metadata": v.metadata,
    }


def artifact_page(
    meta: Any, project: str, name: str, selector: str | None = None
) -> dict[str, Any]:
    """All versions of `project/name`, and the files, metadata and runs of the one selected."""
    versions = meta.list_versions(project, name)
    if not versions:
        raise UsageError(f"artifact {project}/{name} has no versions")
    chosen = meta.resolve(project, name, selector or "latest")
    files = [
        {"path": p, "digest": e.digest, "size": e.size, "ref": e.ref}
        for p, e in sorted(chosen.manifest.entries.items())
    ]
    return {
        "project": project,
        "name": name,
        "type": chosen.type,
        "versions": [_version(v) for v in reversed(versions)],
        "version": _version(chosen),
        "files": files,
        "produced_by": [run_brief(r) for r in meta.producers(chosen.id)],
        "used_by": [run_brief(r) for r in meta.consumers(chosen.id)],
    }


def _text(meta: Any, digest: str, size: int) -> str | None:
    if size > TEXT_LIMIT:
        return None
    data = meta.objects.get_bytes(digest)
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _kind(value: str) -> str:
    if value == "":
        return "empty"
    for cast, name in ((int, "int"), (float, "float")):
        try:
            cast(value)
            return name
        except ValueError:
            pass
    return "str"


def _column_types(header: list[str], rows: list[list[str]]) -> dict[str, str]:
    rank = {"empty": 0, "int": 1, "float": 2, "str": 3}
    types = dict.fromkeys(header, "empty")
    for row in rows[:1000]:
        for col, cell in zip(header, row, strict=False):
            k = _kind(cell)
            if rank[k] > rank[types[col]]:
                types[col] = k
    return types


def csv_diff(old: str, new: str) -> dict[str, Any]:
    """Schema change, row counts and sampled row changes between two CSV texts."""
    a = list(csv.reader(io.StringIO(old)))
    b = list(csv.reader(io.StringIO(new)))
    ha, ra = (a[0], a[1:]) if a else ([], [])
    hb, rb = (b[0], b[1:]) if b else ([], [])
    ta, tb = _column_types(ha, ra), _column_types(hb, rb)
    schema = {
        "added": [c for c in hb if c not in ha],
        "removed": [c for c in ha if c not in hb],
        "retyped": [
            {"column": c, "old": ta[c], "new": tb[c]}
            for c in ha
            if c in tb and ta[c] != tb[c] and "empty" not in (ta[c], tb[c])
        ],
        "reordered": [c for c in ha if c in hb] != [c for c in hb if c in ha],
    }
    common = [c for c in ha if c in hb]
    ia = {c: ha.index(c) for c in common}
    ib = {c: hb.index(c) for c in common}
    key = _key_column(common, ra, rb, ia, ib)
    out: dict[str, Any] = {
        "columns_old": ha,
        "columns_new": hb,
        "rows_old": len(ra),
        "rows_new": len(rb),
        "schema": schema,
        "key": key,
    }
    if key is not None:
        ka = {r[ia[key]]: r for r in ra if len(r) > ia[key]}
        kb = {r[ib[key]]: r for r in rb if len(r) > ib[key]}
        added = [k for k in kb if k not in ka]
        removed = [k for k in ka if k not in kb]
        changed = []
        for k in ka.keys() & kb.keys():
            cells = []
            for c in common:
                va = ka[k][ia[c]] if ia[c] < len(ka[k]) else None
                vb = kb[k][ib[c]] if ib[c] < len(kb[k]) else None
                if va != vb:
                    cells.append({"column": c, "old": va, "new": vb})
            if cells:
                changed.append((k, cells))
        changed.sort(key=lambda kc: list(ka).index(kc[0]) if len(ka) < 5000 else 0)
        out.update(
            added_count=len(added),
            removed_count=len(removed),
            changed_count=len(changed),
            added=[dict(zip(hb, kb[k], strict=False)) for k in added[:SAMPLE_ROWS]],
            removed=[dict(zip(ha, ka[k], strict=False)) for k in removed[:SAMPLE_ROWS]],
            changed=[{"key": k, "cells": cells} for k, cells in changed[:SAMPLE_ROWS]],
        )
    else:
        # no key: rows compared as a multiset over the shared columns
        def proj(rows: list[list[str]], idx: dict[str, int]) -> list[tuple[str, ...]]:
            return [tuple(r[idx[c]] if idx[c] < len(r) else "" for c in common) for r in rows]

        pa, pb = proj(ra, ia), proj(rb, ib)
        from collections import Counter

        ca, cb = Counter(pa), Counter(pb)
        added_rows = list((cb - ca).elements())
        removed_rows = list((ca - cb).elements())
        out.update(
            added_count=len(added_rows),
            removed_count=len(removed_rows),
            changed_count=None,
            added=[dict(zip(common, r, strict=False)) for r in added_rows[:SAMPLE_ROWS]],
            removed=[dict(zip(common, r, strict=False)) for r in removed_rows[:SAMPLE_ROWS]],
            changed=[],
        )
    return out


def _key_column(
    common: list[str],
    ra: list[list[str]],
    rb: list[list[str]],
    ia: dict[str, int],
    ib: dict[str, int],
) -> str | None:
    """A shared column whose values are unique on both sides (an `id`-like name first)."""
    ranked = sorted(
        common,
        key=lambda c: (
            c.lower() not in ("id", "key", "uuid") and not c.lower().endswith("_id"),
            common.index(c),
        ),
    )
    for c in ranked[:5]:
        va = [r[ia[c]] for r in ra if len(r) > ia[c]]
        vb = [r[ib[c]] for r in rb if len(r) > ib[c]]
        unique = len(set(va)) == len(va) == len(ra) and len(set(vb)) == len(vb) == len(rb)
        # a key that changes in most rows is not a key (a float column, say)
        if unique and (va or vb) and len(set(va) & set(vb)) >= min(len(va), len(vb)) // 2:
            return c
    return None


def version_diff(meta: Any, project: str, name: str, old: str, new: str) -> dict[str, Any]:
    """Files added, removed and changed between two versions, with text and table diffs."""
    va = meta.resolve(project, name, old)
    vb = meta.resolve(project, name, new)
    files = []
    for ch in manifest_diff(va.manifest, vb.manifest):
        item: dict[str, Any] = {
            "path": ch.path,
            "change": ch.kind,
            "old_size": ch.old.size if ch.old else None,
            "new_size": ch.new.size if ch.new else None,
            "old_digest": ch.old.digest if ch.old else None,
            "new_digest": ch.new.digest if ch.new else None,
        }
        if ch.kind == "changed" and ch.old and ch.new and not ch.old.ref and not ch.new.ref:
            textual = ch.path.lower().endswith(_TEXT_EXT) or max(ch.old.size, ch.new.size) < 65536
            ta = _text(meta, ch.old.digest, ch.old.size) if textual else None
            tb = _text(meta, ch.new.digest, ch.new.size) if ta is not None else None
            if ta is not None and tb is not None:
                lines = list(
                    difflib.unified_diff(
                        ta.splitlines(),
                        tb.splitlines(),
                        f"v{va.version}/{ch.path}",
                        f"v{vb.version}/{ch.path}",
                        lineterm="",
                        n=2,
                    )
                )
                item["text_diff"] = lines[:DIFF_LINES]
                item["text_diff_truncated"] = len(lines) > DIFF_LINES
                if ch.path.lower().endswith((".csv", ".tsv")):
                    item["table"] = csv_diff(ta, tb) if ch.path.lower().endswith(".csv") else None
            else:
                item["binary"] = True
        files.append(item)
    meta_keys = sorted(va.metadata.keys() | vb.metadata.keys())
    return {
        "project": project,
        "name": name,
        "old": version_brief(va),
        "new": version_brief(vb),
        "versions": [f"v{v.version}" for v in meta.list_versions(project, name)],
        "files": files,
        "unchanged": len(set(va.manifest.entries) & set(vb.manifest.entries))
        - sum(1 for f in files if f["change"] == "changed"),
        "metadata": [
            {"key": k, "old": va.metadata.get(k), "new": vb.metadata.get(k)}
            for k in meta_keys
            if va.metadata.get(k) != vb.metadata.get(k)
        ],
    }
