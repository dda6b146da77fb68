"""Lineage: the bipartite graph run → version → run, walked up and down from a version or a run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stepline.backends.base import Backend, RunRecord, VersionRecord
from stepline.errors import NotFound


@dataclass
class Graph:
    """Nodes keyed `run:<id>` / `artifact:<project>/<name>:vN`; edges point from input to output."""

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": self.nodes,
            "edges": [{"from": a, "to": b} for a, b in sorted(self.edges)],
        }


def _run_node(r: RunRecord) -> tuple[str, dict[str, Any]]:
    return f"run:{r.id}", {
        "kind": "run",
        "id": r.id,
        "name": r.name,
        "project": r.project,
        "job_type": r.job_type,
        "state": r.state,
        "group": r.group,
    }


def _version_node(v: VersionRecord) -> tuple[str, dict[str, Any]]:
    return f"artifact:{v.ref}", {
        "kind": "artifact",
        "ref": v.ref,
        "type": v.type,
        "aliases": v.aliases,
        "digest": v.digest,
    }


def _node(item: tuple[str, Any]) -> tuple[str, dict[str, Any]]:
    return _run_node(item[1]) if item[0] == "run" else _version_node(item[1])


def build(backend: Backend, ref: str, direction: str = "both", depth: int = 10) -> Graph:
    """The lineage around `ref` (an artifact reference or a run id), `depth` hops each way."""
    from stepline.tracking.artifact import resolve

    start: tuple[str, Any]
    try:
        run = backend.get_run(ref)
        start = ("run", run)
    except NotFound:
        start = ("artifact", resolve(backend, ref, None))
    key, node = _node(start)
    graph = Graph(root=key, nodes={key: node})
    if direction in ("both", "up"):
        _walk(backend, graph, start, depth * 2, up=True)
    if direction in ("both", "down"):
        _walk(backend, graph, start, depth * 2, up=False)
    return graph


def _walk(backend: Backend, g: Graph, start: tuple[str, Any], hops: int, up: bool) -> None:
    frontier = [start]
    seen = {g.root}
    for _ in range(hops):
        nxt: list[tuple[str, Any]] = []
        for kind, obj in frontier:
            key = _run_node(obj)[0] if kind == "run" else _version_node(obj)[0]
            neighbours: list[tuple[str, Any]] = []
            if kind == "run":
                versions = backend.inputs(obj.id) if up else backend.outputs(obj.id)
                neighbours = [("artifact", v) for v in versions]
            elif up:
                if obj.run_id:
                    neighbours = [("run", backend.get_run(obj.run_id))]
            else:
                neighbours = [("run", r) for r in backend.consumers(obj.id)]
            for nkind, nobj in neighbours:
                nkey, nnode = _run_node(nobj) if nkind == "run" else _version_node(nobj)
                g.nodes.setdefault(nkey, nnode)
                g.edges.add((nkey, key) if up else (key, nkey))
                if nkey not in seen:
                    seen.add(nkey)
                    nxt.append((nkind, nobj))
        frontier = nxt
        if not frontier:
            break


def label(node: dict[str, Any]) -> str:
    if node["kind"] == "run":
        return f"{node['name']} [{node['job_type'] or 'run'}] ({node['id']}, {node['state']})"
    aliases = f" [{', '.join(node['aliases'])}]" if node["aliases"] else ""
    return f"{node['ref']} ({node['type']}){aliases}"


def to_mermaid(g: Graph) -> str:
    ids = {k: f"n{i}" for i, k in enumerate(sorted(g.nodes))}
    lines = ["graph LR"]
    for k, node in sorted(g.nodes.items()):
        text = label(node).replace('"', "'")
        shape = f'(["{text}"])' if node["kind"] == "run" else f'["{text}"]'
        lines.append(f"  {ids[k]}{shape}")
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in sorted(g.edges)]
    return "\n".join(lines)


def to_dot(g: Graph) -> str:
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for k, node in sorted(g.nodes.items()):
        shape = "ellipse" if node["kind"] == "run" else "box"
        lines.append(f"  {json.dumps(k)} [label={json.dumps(label(node))}, shape={shape}];")
    lines += [f"  {json.dumps(a)} -> {json.dumps(b)};" for a, b in sorted(g.edges)]
    lines.append("}")
    return "\n".join(lines)


def to_tree(g: Graph) -> tuple[list[str], list[str]]:
    """Upstream and downstream of the root as indented text lines."""

    def walk(key: str, up: bool, indent: int, seen: set[str], out: list[str]) -> None:
        nexts = (
            sorted(a for a, b in g.edges if b == key)
            if up
            else sorted(b for a, b in g.edges if a == key)
        )
        for n in nexts:
            mark = "↑ " if up else "↓ "
            out.append("  " * indent + mark + label(g.nodes[n]))
            if n not in seen:
                walk(n, up, indent + 1, seen | {n}, out)

    up: list[str] = []
    down: list[str] = []
    walk(g.root, True, 1, {g.root}, up)
    walk(g.root, False, 1, {g.root}, down)
    return up, down
