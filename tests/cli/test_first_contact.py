"""What a new user types first, each in a fresh `stepline` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STEPLINE = str(Path(sys.executable).parent / "stepline")


def sl(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPLINE, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_and_bare_command_list_the_commands(tmp_path: Path) -> None:
    for args in (["--help"], []):
        proc = sl(*args, cwd=tmp_path)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 2) if not args else proc.returncode == 0
        out = proc.stdout + proc.stderr
        assert "Usage: stepline" in out
        for name in ("component", "run", "runs", "artifacts", "why", "env"):
            assert f"  {name} " in out, (name, out)
