"""uv's output lines → package and byte counts, from a real build and from uv's own line format."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from stepline.envs.uv_progress import UvProgress

# printed by `uv pip install numpy==2.1.3 six` (uv 0.13.9) into a fresh cache, output piped
UV_LINES = """\
Using Python 3.11.7 environment at: uvt/env
Resolved 2 packages in 338ms
Downloading numpy (15.6MiB)
 Downloaded numpy
Prepared 2 packages in 1.89s
Installed 2 packages in 77ms
 + numpy==2.1.3
 + six==1.17.0
"""


def test_uv_lines_give_packages_and_bytes() -> None:
    uv = UvProgress()
    states = []
    for line in UV_LINES.splitlines():
        uv.feed(line)
        states.append((uv.phase, uv.packages_installed, uv.bytes_done))
    assert uv.packages_total == 2 and uv.packages_installed == 2
    assert uv.bytes_total == int(15.6 * 1024**2) == uv.bytes_done
    assert states[2] == ("downloading", 0, 0) and states[3][2] == uv.bytes_total
    assert uv.phase == "installed"
    assert "2/2 packages" in uv.describe() and "15.6 MiB" in uv.describe()


def test_a_real_env_build_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stepline.components.environment import build_path

    monkeypatch.setenv(
        "PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
    )
    spec = tmp_path / "python_env.yaml"
    spec.write_text('python: "3.11"\ndependencies:\n  - six==1.17.0\n')
    uv = UvProgress()
    changes: list[str] = []

    def on_log(line: str) -> None:
        if uv.feed(line):
            changes.append(uv.describe())

    build_path(spec, on_log=on_log)
    assert uv.packages_total >= 2  # stepline's runtime env, then the component's
    assert uv.packages_installed == uv.packages_total and uv.phase == "installed"
    assert any("six" in c for c in changes)
