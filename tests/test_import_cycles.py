"""Subpackages that must not import each other both ways, checked on the source (every import,
including those inside functions, since a lazy import is still a dependency).

    envs ↛ components    components run in envs; env types live in envs/ref.py
    tracking ↛ registry  the registry is built on tracking (run.link_artifact registers directly)
    formats ↛ anything   formats/ is the leaf every layer parses with
"""

from __future__ import annotations

import ast
from pathlib import Path

import stepline

SRC = Path(stepline.__file__).parent


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "stepline" or len(parts) < 2:
        return None
    return parts[1].removesuffix(".py")


def _imports() -> dict[str, set[str]]:
    """subpackage → the stepline subpackages its modules import."""
    graph: dict[str, set[str]] = {}
    for file in SRC.rglob("*.py"):
        rel = file.relative_to(SRC.parent).with_suffix("")
        here = _subpackage(".".join(rel.parts))
        if here is None:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                there = _subpackage(name)
                if there is None or there == here:
                    continue
                if (SRC / there).is_dir() or (SRC / f"{there}.py").is_file():
                    graph.setdefault(here, set()).add(there)
    return graph


def test_envs_do_not_import_components() -> None:
    assert "components" not in _imports().get("envs", set())


def test_tracking_does_not_import_the_registry() -> None:
    assert "registry" not in _imports().get("tracking", set())


def test_formats_import_only_errors() -> None:
    assert _imports().get("formats", set()) <= {"errors"}
