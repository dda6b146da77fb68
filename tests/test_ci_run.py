"""`.ci/run` runs the README's commands with a PATH that holds no uv, and fails on any exit code.

Each test runs the real script in a copy of its folder layout whose README holds stand-in
commands, with stand-ins for the linters (the real ones run in CI itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parents[1] / ".ci" / "run"
BARE = "/usr/bin:/bin"


def checkout(tmp_path: Path, test_cmd: str, example_cmd: str) -> Path:
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    shutil.copy(CI, root / ".ci" / "run")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("ruff", "mypy", "lint-imports"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    (root / "README.md").write_text(
        "# x\n\n<!-- example-command -->\n```bash\n"
        f"{example_cmd}\n```\n<!-- /example-command -->\n\n"
        f"<!-- test-command -->\n```bash\n{test_cmd}\n```\n<!-- /test-command -->\n"
    )
    return root


def ci(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / ".ci" / "run")],
        env={**os.environ, "CI_SKIP_BROWSER": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_readme_commands_run_with_the_bare_path(tmp_path: Path) -> None:
    assert shutil.which("uv", path=BARE) is None
    root = checkout(tmp_path, 'echo "tests PATH=$PATH"', 'echo "example PATH=$PATH $STEPLINE_DIR"')
    proc = ci(root)
    assert proc.returncode == 0, proc.stderr
    assert f"tests PATH={BARE}\n" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith("example PATH="))
    assert line.startswith(f"example PATH={BARE} ") and line.endswith("/.stepline")


@pytest.mark.parametrize("rc", [1, 5])
def test_a_failing_test_command_fails_ci(tmp_path: Path, rc: int) -> None:
    root = checkout(tmp_path, f"exit {rc}", "echo example-ran")
    proc = ci(root)
    assert proc.returncode == rc and "example-ran" not in proc.stdout


def test_a_failing_example_fails_ci(tmp_path: Path) -> None:
    proc = ci(checkout(tmp_path, "true", "exit 3"))
    assert proc.returncode == 3


def test_uv_on_the_bare_path_fails_loudly(tmp_path: Path) -> None:
    root = checkout(tmp_path, "echo tests-ran", "true")
    with_uv = tmp_path / "bin"
    with_uv.mkdir()
    (with_uv / "uv").write_text("#!/bin/sh\n")
    (with_uv / "uv").chmod(0o755)
    proc = ci(root, CI_BARE_PATH=f"{with_uv}:{BARE}")
    assert proc.returncode == 1 and "tests-ran" not in proc.stdout
    assert f"has one ({with_uv / 'uv'})" in proc.stderr


def test_a_readme_without_the_markers_fails(tmp_path: Path) -> None:
    root = checkout(tmp_path, "true", "true")
    (root / "README.md").write_text("# nothing to run\n")
    proc = ci(root)
    assert proc.returncode == 1 and "no test command found" in proc.stderr


def test_a_broken_import_contract_fails_ci_after_the_other_linters(tmp_path: Path) -> None:
    root = checkout(tmp_path, "true", "true")
    bin_dir = root / ".venv" / "bin"
    (bin_dir / "mypy").write_text("#!/bin/sh\necho mypy-ran\n")
    (bin_dir / "lint-imports").write_text("#!/bin/sh\necho lint-imports-ran\nexit 1\n")
    proc = ci(root)
    assert proc.returncode == 1
    assert proc.stdout.index("mypy-ran") < proc.stdout.index("lint-imports-ran")
