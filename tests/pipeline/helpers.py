"""Writers for small shell-command components and pipelines in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def component(root: Path, name: str, command: str, params: dict[str, Any] | None = None) -> Path:
    """A component dir whose `main` runs `command`; params map name -> default (None: required)."""
    d = root / "components" / name
    d.mkdir(parents=True, exist_ok=True)
    decl = {
        k: ({"type": "string"} if v is None else {"type": "string", "default": v})
        for k, v in (params or {}).items()
    }
    (d / "MLproject").write_text(
        yaml.safe_dump(
            {"name": name, "entry_points": {"main": {"parameters": decl, "command": command}}}
        )
    )
    return d


def pipeline(root: Path, steps: dict[str, Any], config: dict[str, Any] | None = None) -> Path:
    path = root / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "demo", "project": "demo", "config": config or {}, "steps": steps},
            sort_keys=False,
        )
    )
    return path


def chain(root: Path) -> Path:
    """make -> double -> report, plus an independent `side` step.

    make writes `$value` to a.txt, double writes a.txt twice to b.txt (reading nothing from the
    store: the stand-in has no use_artifact), report writes b's content.
    """
    component(root, "make", 'echo "{value}" > "$STEPLINE_OUT/a.txt"', {"value": None})
    component(root, "double", 'echo "{factor}" > "$STEPLINE_OUT/b.txt"', {"factor": "2"})
    component(root, "report", 'echo report; echo "{note}" > "$STEPLINE_OUT/r.txt"', {"note": "x"})
    component(root, "side", 'echo side > "$STEPLINE_OUT/s.txt"', {})
    return pipeline(
        root,
        {
            "make": {
                "component": "components/make",
                "parameters": {"value": "${v}"},
                "outputs": ["a.txt"],
            },
            "double": {
                "component": "components/double",
                "parameters": {"factor": "${f}"},
                "inputs": ["a.txt:latest"],
                "outputs": ["b.txt"],
            },
            "report": {
                "component": "components/report",
                "inputs": ["b.txt:latest"],
                "outputs": ["r.txt"],
            },
            "side": {"component": "components/side", "outputs": ["s.txt"]},
        },
        {"v": 1, "f": 2},
    )
