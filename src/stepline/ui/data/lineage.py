"""The lineage graph around a run or a version: k hops each way, clusters, a server-side layout.

Edges are read a hop at a time with one SQL query per direction (not one per node), so a
neighbourhood in a project of 10,000 nodes costs a handful of indexed queries. Five or more
siblings of one kind hanging off the same node (the runs of one job type that used a version, the
versions of one artifact a run logged) are drawn as one cluster node; clicking a node asks for its
own neighbourhood and the server lays the merged graph out again (longest-path layers, then a few
barycenter sweeps to untangle each layer), so the browser never runs a layout.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from stepline.errors import NotFound, RunNotFound, UsageError, VersionNotFound
from stepline.metadata import schema as t

CLUSTER_MIN = 5
MAX_NODES = 600
X_GAP, Y_GAP = 230, 74


def _edges(
    conn: sa.Connection, runs: set[str], versions: set[int], up: bool
) -> list[tuple[str, str]]:
    """Edges (input → output) one hop from these nodes, upstream or downstream."""
    out: list[tuple[str, str]] = []
    if runs:
        rl = list(runs)
        if up:  # versions the runs used
            q = sa.select(t.usages.c.version_id, t.usages.c.run_id).where(t.usages.c.run_id.in_(rl))
            out += [(f"v:{v}", f"r:{r}") for v, r in conn.execute(q)]
        else:  # versions the runs created or logged again
            q1 = sa.select(t.outputs.c.run_id, t.outputs.c.version_id).where(
                t.outputs.c.run_id.in_(rl)
            )
            q2 = sa.select(t.versions.c.run_id, t.versions.c.id).where(t.versions.c.run_id.in_(rl))
            out += [(f"r:{r}", f"v:{v}") for r, v in conn.execute(sa.union(q1, q2))]
    if versions:
        vl = list(versions)
        if up:  # runs that produced the versions
            q1 = sa.select(t.outputs.c.run_id, t.outputs.c.version_id).where(
                t.outputs.c.version_id.in_(vl)
            )
            q2 = sa.select(t.versions.c.run_id, t.versions.c.id).where(
                t.versions.c.id.in_(vl), t.versions.c.run_id.is_not(None)
            )
            out += [(f"r:{r}", f"v:{v}") for r, v in conn.execute(sa.union(q1, q2))]
        else:  # runs that used them
            q = sa.select(t.usages.c.version_id, t.usages.c.run_id).where(
                t.usages.c.version_id.in_(vl)
            )
            out += [(f"v:{v}", f"r:{r}") for v, r in conn.execute(q)]
    return out


def _split(keys: Iterable[str]) -> tuple[set[str], set[int]]:
    runs, versions = set(), set()
    for k in keys:
        if k.startswith("r:"):
            runs.add(k[2:])
        elif k.startswith("v:") and k[2:].isdigit():  # an expand= value from the URL
            versions.add(int(k[2:]))
    return runs, versions


def _details(conn: sa.Connection, keys: set[str]) -> dict[str, dict[str, Any]]:
    runs, versions = _split(keys)
    out: dict[str, dict[str, Any]] = {}
    if runs:
        q = (
            sa.select(
                t.runs.c.id,
                t.runs.c.name,
                t.runs.c.job_type,
                t.runs.c.state,
                t.projects.c.name.label("project"),
            )
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(t.runs.c.id.in_(list(runs)))
        )
        for r in conn.execute(q):
            out[f"r:{r.id}"] = {
                "kind": "run",
                "label": r.name,
                "sub": r.job_type or "run",
                "state": r.state,
                "group_key": f"run|{r.job_type}",
                "href": f"/projects/{r.project}/runs/{r.id}",
                "ref": r.id,
                "project": r.project,
            }
    if versions:
        q = (
            sa.select(
                t.versions.c.id,
                t.versions.c.version,
                t.artifacts.c.name,
                t.artifacts.c.type,
                t.projects.c.name.label("project"),
            )
            .join(t.artifacts, t.artifacts.c.id == t.versions.c.artifact_id)
            .join(t.projects, t.projects.c.id == t.artifacts.c.project_id)
            .where(t.versions.c.id.in_(list(versions)))
        )
        aliases: dict[int, list[str]] = defaultdict(list)
        for vid, alias in conn.execute(
            sa.select(t.aliases.c.version_id, t.aliases.c.alias).where(
                t.aliases.c.version_id.in_(list(versions))
            )
        ):
            aliases[vid].append(alias)
        for v in conn.execute(q):
            out[f"v:{v.id}"] = {
                "kind": "artifact",
                "label": f"{v.name}:v{v.version}",
                "sub": v.type,
                "aliases": sorted(aliases[v.id], key=lambda a: (a != "latest", a)),
                "group_key": f"artifact|{v.name}",
                "href": f"/projects/{v.project}/artifacts/{v.name}?version=v{v.version}",
                "ref": f"{v.project}/{v.name}:v{v.version}",
                "project": v.project,
            }
    return out


def _readable(conn: sa.Connection, keys: set[str], can_read: Any) -> set[str]:
    """The nodes of `keys` in projects the scoped store's person may read."""
    runs, versions = _split(keys)
    out: set[str] = set()
    if runs:
        q = (
            sa.select(t.runs.c.id, t.projects.c.name)
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(t.runs.c.id.in_(list(runs)))
        )
        out |= {f"r:{i}" for i, p in conn.execute(q) if can_read(p)}
    if versions:
        q = (
            sa.select(t.versions.c.id, t.projects.c.name)
            .join(t.artifacts, t.artifacts.c.id == t.versions.c.artifact_id)
            .join(t.projects, t.projects.c.id == t.artifacts.c.project_id)
            .where(t.versions.c.id.in_(list(versions)))
        )
        out |= {f"v:{i}" for i, p in conn.execute(q) if can_read(p)}
    return out


def root_key(meta: Any, ref: str) -> str:
    """`r:<run id>` or `v:<version id>` for a run id/name or an artifact reference."""
    if ref.startswith("r:"):
        return ref
    if ref.startswith("v:"):
        if not ref[2:].isdigit():
            raise UsageError(f"lineage node {ref!r}: a version node is v:<number>, e.g. v:12")
        return ref
    try:
        return f"r:{meta.get_run(ref).id}"
    except NotFound:
        from stepline.tracking.artifact import resolve

        return f"v:{resolve(meta, ref, None, scope=None).id}"


def neighbourhood(
    meta: Any, ref: str, depth: int = 2, expand: Iterable[str] = (), clusters: bool = True
) -> dict[str, Any]:
    """Nodes and edges within `depth` hops up and down of `ref`, plus the neighbours of `expand`."""
    depth = max(1, min(int(depth), 10))
    root = root_key(meta, ref)
    expand = [e for e in expand if e]
    opened = {e for e in expand if e.startswith("c:")}
    edges: set[tuple[str, str]] = set()
    nodes: set[str] = {root}
    truncated = False
    can_read = getattr(meta, "can_read", None)
    with meta.engine.connect() as conn:
        starts = [(root, depth)] + [(e, 1) for e in expand if not e.startswith("c:")]
        if can_read is not None:
            seen = _readable(conn, {k for k, _ in starts}, can_read)
            starts = [(k, hops) for k, hops in starts if k in seen]
        for start, hops in starts:
            nodes.add(start)
            for up in (True, False):
                frontier = {start}
                for _ in range(hops):
                    runs, versions = _split(frontier)
                    found = _edges(conn, runs, versions, up)
                    new = set()
                    for a, b in found:
                        edges.add((a, b))
                        other = a if up else b
                        if other not in nodes:
                            new.add(other)
                    if can_read is not None:  # a scoped store: no walking through others
                        new = _readable(conn, new, can_read)
                    nodes |= new
                    frontier = new
                    if len(nodes) > MAX_NODES:
                        truncated = True
                        break
                    if not frontier:
                        break
        info = _details(conn, nodes)
    if can_read is not None:
        info = {k: v for k, v in info.items() if can_read(v.pop("project"))}
    else:
        for v in info.values():
            v.pop("project")
    if root not in info:  # a v:/r: key the URL named that is not in the store (or not readable)
        error = VersionNotFound if root.startswith("v:") else RunNotFound
        raise error(f"no run or artifact version {ref!r}")
    edges = {(a, b) for a, b in edges if a in info and b in info}
    graph_nodes = {k: {"id": k, **info[k]} for k in nodes if k in info}
    if clusters:
        graph_nodes, edges = _cluster(graph_nodes, edges, keep={root, *expand}, opened=opened)
    layout(graph_nodes, edges)
    return {
        "root": root,
        "depth": depth,
        "expanded": expand,
        "truncated": truncated,
        "nodes": sorted(graph_nodes.values(), key=lambda n: (n["x"], n["y"])),
        "edges": [{"source": a, "target": b} for a, b in sorted(edges)],
    }


def _cluster(
    nodes: dict[str, dict[str, Any]], edges: set[tuple[str, str]], keep: set[str], opened: set[str]
) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str]]]:
    """Fold ≥5 siblings of one kind that hang off the same nodes into one node, repeatedly.

    Siblings are nodes of one kind (runs of a job type, versions of an artifact) with the same
    upstream neighbours (or, for sources, the same downstream ones). After a pass, the children of
    a cluster are siblings in turn: a sweep's 50 runs and their 50 model versions become two nodes.
    """
    for _ in range(6):
        inn: dict[str, set[str]] = defaultdict(set)
        out: dict[str, set[str]] = defaultdict(set)
        for a, b in edges:
            out[a].add(b)
            inn[b].add(a)
        buckets: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for k, n in nodes.items():
            if k in keep or n["kind"] == "cluster":
                continue
            sig = ("in", frozenset(inn[k])) if inn[k] else ("out", frozenset(out[k]))
            if sig[1]:
                buckets[(n["group_key"], sig)].append(k)
        replace: dict[str, str] = {}
        for (group_key, sig), members in buckets.items():
            if len(members) < CLUSTER_MIN:
                continue
            text = group_key + "|" + sig[0] + "|" + ",".join(sorted(sig[1]))
            cid = "c:" + hashlib.sha1(text.encode()).hexdigest()[:12]
            if cid in opened:
                continue
            first = nodes[members[0]]
            kind = first["kind"]
            nodes[cid] = {
                "id": cid,
                "kind": "cluster",
                "of": kind,
                "label": f"{len(members)} {'runs' if kind == 'run' else 'versions'}",
                "sub": first["sub"] if kind == "run" else group_key.split("|", 1)[1],
                "count": len(members),
                "members": sorted(members)[:200],
                "states": _states(nodes, members),
            }
            for m in members:
                replace[m] = cid
                del nodes[m]
        if not replace:
            break
        edges = {(replace.get(a, a), replace.get(b, b)) for a, b in edges}
    return nodes, edges


def _states(nodes: dict[str, dict[str, Any]], members: list[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for m in members:
        if "state" in nodes[m]:
            out[nodes[m]["state"]] += 1
    return dict(out)


def layout(nodes: dict[str, dict[str, Any]], edges: set[tuple[str, str]]) -> None:
    """Set `x`, `y` on every node: longest-path layers left to right, barycenter order in each."""
    preds: dict[str, list[str]] = defaultdict(list)
    succs: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        if a != b:
            preds[b].append(a)
            succs[a].append(b)
    layer: dict[str, int] = {}
    indeg = {k: len(preds[k]) for k in nodes}
    ready = sorted(k for k, d in indeg.items() if d == 0)
    while ready:  # Kahn's order; any node left over (a cycle) goes after its known predecessors
        k = ready.pop()
        layer[k] = max((layer[p] + 1 for p in preds[k] if p in layer), default=0)
        for s in succs[k]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    for k in nodes:
        layer.setdefault(k, max((layer.get(p, 0) + 1 for p in preds[k]), default=0))
    layers: dict[int, list[str]] = defaultdict(list)
    for k in sorted(nodes):
        layers[layer[k]].append(k)
    order = {k: i for ks in layers.values() for i, k in enumerate(ks)}
    levels = sorted(layers)
    for sweep in range(4):
        seq = levels if sweep % 2 == 0 else list(reversed(levels))
        for lv in seq:
            nbrs = preds if sweep % 2 == 0 else succs

            def bary(k: str, nbrs: dict[str, list[str]] = nbrs) -> float:
                ns = [order[n] for n in nbrs[k] if n in order]
                return sum(ns) / len(ns) if ns else order[k]

            layers[lv].sort(key=lambda k: (bary(k), k))
            for i, k in enumerate(layers[lv]):
                order[k] = i
    for lv, ks in layers.items():
        offset = (len(ks) - 1) / 2
        for i, k in enumerate(ks):
            nodes[k]["x"] = lv * X_GAP
            nodes[k]["y"] = round((i - offset) * Y_GAP, 1)
