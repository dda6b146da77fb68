"""Services never go through the `stepline` facade: `init()` is for user code only."""

from __future__ import annotations

import ast
from pathlib import Path

import stepline

SRC = Path(stepline.__file__).resolve().parent
#: user-facing on purpose: `import wandb` code runs on it
ALLOWED = ("compat/wandb_dropin/",)


def _facade_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "stepline" for a in node.names):
            found.append(f"{node.lineno}: import stepline")
        elif isinstance(node, ast.ImportFrom) and node.module == "stepline":
            names = [a.name for a in node.names if a.name in stepline._LAZY]
            if names:
                found.append(f"{node.lineno}: from stepline import {', '.join(names)}")
    return found


def test_no_service_module_imports_the_facade() -> None:
    offenders = {
        str(path.relative_to(SRC)): uses
        for path in SRC.rglob("*.py")
        if path != SRC / "__init__.py"
        and not str(path.relative_to(SRC)).startswith(ALLOWED)
        and (uses := _facade_uses(path))
    }
    assert offenders == {}
