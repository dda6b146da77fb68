"""docs/tutorial.md cannot rot: every ```bash block in it runs here, in order, in an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


def blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def test_the_tutorial_has_commands() -> None:
    assert len(blocks(TUTORIAL.read_text())) >= 15


def test_every_command_in_the_tutorial_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = "set -euo pipefail\nset -x\n" + "\n".join(blocks(TUTORIAL.read_text()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPLINE_", "WANDB_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["STEPLINE_CACHE_DIR"] = os.environ["STEPLINE_CACHE_DIR"]
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500
    )
    assert proc.returncode == 0, f"tutorial failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    work = tmp_path / "rides"
    assert (work / ".stepline" / "stepline.db").exists()  # the store lives in the project folder
    assert "predictions" in (work / "prediction.json").read_text()
    assert (work / "scored.csv").read_text().count("\n") == 5
