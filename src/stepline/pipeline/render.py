"""Renderings of a pipeline's DAG: Mermaid, Graphviz dot and JSON data (pure functions).

print(to_mermaid(spec, dag, status={"download": "hit"}))
to_dict(spec, dag, status)   # `stepline pipeline show --format json`
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stepline.pipeline.dag import Dag
from stepline.pipeline.spec import PipelineSpec


def _id(text: str, prefix: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9_]", "_", text)


def _edges(spec: PipelineSpec, dag: Dag) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(producer step, consumer step, artifact) edges, and external input references."""
    edges: list[tuple[str, str, str]] = []
    external: list[str] = []
    for name in dag.order():
        for ref in spec.steps[name].inputs:
            producer = dag.producers.get(ref.name)
            if ref.follows_latest and ref.project is None and producer:
                edges.append((producer, name, ref.name))
            elif str(ref) not in external:
                external.append(str(ref))
        for other in spec.steps[name].after:
            edges.append((other, name, ""))
    return edges, external


def to_mermaid(spec: PipelineSpec, dag: Dag, status: Mapping[str, str] | None = None) -> str:
    """A Mermaid `flowchart LR`: steps as boxes, store inputs as rounded nodes, artifacts on
    edges."""
    status = status or {}
    lines = ["flowchart LR"]
    for name in dag.order():
        label = f"{name}<br/>{status[name]}" if name in status else name
        lines.append(f'  {_id(name, "s_")}["{label}"]')
    edges, external = _edges(spec, dag)
    for ext in external:
        lines.append(f'  {_id(ext, "a_")}(["{ext}"])')
    for name in dag.order():
        for ref in spec.steps[name].inputs:
            if str(ref) in external:
                lines.append(f"  {_id(str(ref), 'a_')} --> {_id(name, 's_')}")
    for src, dst, art in edges:
        arrow = f"-->|{art}|" if art else "-.->"
        lines.append(f"  {_id(src, 's_')} {arrow} {_id(dst, 's_')}")
    for name in dag.order():
        leaves = [o for o in spec.steps[name].outputs if not any(e[2] == o for e in edges)]
        for out in leaves:
            lines.append(f'  {_id(out, "o_")}[("{out}")]')
            lines.append(f"  {_id(name, 's_')} --> {_id(out, 'o_')}")
    return "\n".join(lines) + "\n"


def to_dot(spec: PipelineSpec, dag: Dag, status: Mapping[str, str] | None = None) -> str:
    """A Graphviz digraph: steps as boxes, store inputs as ellipses, artifacts as edge labels."""
    status = status or {}
    lines = [f'digraph "{spec.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for name in dag.order():
        label = f"{name}\\n{status[name]}" if name in status else name
        lines.append(f'  "{name}" [label="{label}"];')
    edges, external = _edges(spec, dag)
    for ext in external:
        lines.append(f'  "{ext}" [shape=ellipse];')
        for name in dag.order():
            if any(str(r) == ext for r in spec.steps[name].inputs):
                lines.append(f'  "{ext}" -> "{name}";')
    for src, dst, art in edges:
        attr = f' [label="{art}"]' if art else " [style=dashed]"
        lines.append(f'  "{src}" -> "{dst}"{attr};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dict(
    spec: PipelineSpec, dag: Dag, status: Mapping[str, str], note: str | None = None
) -> dict[str, Any]:
    """The pipeline, its levels and each step with its upstream steps and cache state."""
    steps = {
        n: {**spec.steps[n].to_dict(), "upstream": sorted(dag.upstream[n]), "cache": status.get(n)}
        for n in dag.order()
    }
    return {
        "pipeline": spec.name,
        "project": spec.project,
        "path": str(spec.path),
        "digest": spec.digest,
        "levels": dag.levels(),
        "steps": steps,
        "note": note or None,
    }
