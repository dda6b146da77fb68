"""The quickstart runs as a script and as a notebook executed headless."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, component_env, requires_core

QUICKSTART = EXAMPLES / "quickstart"


@requires_core
def test_quickstart_script_versions_aliases_and_lineage(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(QUICKSTART / "quickstart.py")],
        cwd=tmp_path, env=component_env(tmp_path / ".stepline"), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "1. first upload            -> v0" in out
    assert "2. changed file            -> v1" in out
    assert "3. same content again      -> v1 (no new version)" in out
    assert "4. alias it 'reference'    -> v1" in out
    assert "used zen_of_python:v1, aliases ['latest', 'reference']" in out
    assert "Complex is better than complicated." in out
    assert "v0 has 3 lines" in out
    lineage = out.split("6. lineage", 1)[1].strip().splitlines()
    assert len(lineage) == 2
    assert "(upload_file) -> zen_of_python:v0 -> " in lineage[0]
    assert lineage[0].endswith("(use_file)") and lineage[1].endswith("(use_file)")


@requires_core
def test_quickstart_notebook_executes_headless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat", reason="pip install nbformat nbclient ipykernel")
    nbclient = pytest.importorskip("nbclient", reason="pip install nbformat nbclient ipykernel")
    for key, value in component_env(tmp_path / ".stepline").items():
        monkeypatch.setenv(key, value)  # the kernel inherits the store and the source path
    notebook = nbformat.read(QUICKSTART / "quickstart.ipynb", as_version=4)
    resources = {"metadata": {"path": str(tmp_path)}}
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources=resources
    )
    client.execute()

    def text(cell) -> str:
        parts = []
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
        return "".join(parts)

    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert text(code[1]) == "'v0'"
    assert text(code[2]) == "'v1'"
    assert text(code[3]) == "'v1'"
    assert "v1 ['latest', 'reference']" in text(code[5])
    assert "zen_of_python:v0 -> " in text(code[6])
    assert (tmp_path / "zen.txt").read_text().count("\n") == 4
