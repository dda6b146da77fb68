"""Progress bars: drawn in a terminal, absent when output is piped."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path


def _exe() -> str:
    return shutil.which("stepline", path=os.path.dirname(sys.executable)) or "stepline"


def _tree(root: Path, n: int = 300) -> Path:
    for i in range(n):
        f = root / f"d{i % 7}" / f"f{i}.txt"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"row {i}\n" * 2000)
    return root


def _in_terminal(args: list[str]) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as in a user's shell."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen(args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_piped_put_and_get_print_only_their_result(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data")
    put = subprocess.run(
        [_exe(), "artifacts", "put", str(data), "--name", "p/tree", "--type", "data"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert put.returncode == 0, put.stderr
    # The one line on stderr says where the new store was made; nothing else is printed.
    assert put.stderr.startswith("stepline: created a stepline store in ")
    assert len(put.stderr.splitlines()) == 1 and len(put.stdout.splitlines()) == 1
    get = subprocess.run(
        [_exe(), "artifacts", "get", "p/tree:v0", "--root", str(tmp_path / "got")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert get.returncode == 0, get.stderr
    assert get.stderr == "" and get.stdout.strip() == str(tmp_path / "got")
    assert len(list((tmp_path / "got").rglob("*.txt"))) == 300


def test_a_terminal_sees_files_and_bytes(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data")
    rc, shown = _in_terminal(
        [_exe(), "artifacts", "put", str(data), "--name", "p/tree", "--type", "data"]
    )
    assert rc == 0, shown
    assert "storing" in shown and "300/300 files" in shown
    assert "p/tree:v0" in shown


def test_component_run_in_a_terminal_shows_the_running_step(tmp_path: Path) -> None:
    comp = tmp_path / "slow"
    comp.mkdir()
    (comp / "MLproject").write_text(
        "name: slow\nentry_points:\n  main:\n"
        "    command: 'echo first line; sleep 0.6; echo working on it; sleep 0.6'\n"
    )
    rc, shown = _in_terminal([_exe(), "component", "run", str(comp), "--env-manager", "local"])
    assert rc == 0, shown
    assert "running slow" in shown and "working on it" in shown
    piped = subprocess.run(
        [_exe(), "component", "run", str(comp), "--env-manager", "local"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "running slow" not in piped.stdout + piped.stderr
    assert "[slow] working on it" in piped.stdout


def test_the_pipeline_live_table_shows_a_building_envs_packages() -> None:
    from rich.console import Console

    from stepline.cli._pipeline_display import LiveDisplay
    from stepline.pipeline.progress import StepState

    lines = [
        "$ uv pip install --python /envs/x/bin/python -r layer0.txt",
        "Resolved 2 packages in 338ms",
        "Downloading numpy (15.6MiB)",
    ]
    console = Console(record=True, width=160, force_terminal=False)
    display = LiveDisplay(console)
    state = StepState("train", state="running")
    display.step_changed("ex1", state)
    for line in lines:
        state.log_tail.append(line)
        display.step_output("ex1", "train", "env", line)
    console.print(display)
    shown = console.export_text()
    assert "env: 0/2 packages, 0.0 MiB/15.6 MiB downloaded: numpy" in shown
    state.log_tail.append("epoch 1")
    display.step_output("ex1", "train", "stdout", "epoch 1")
    console.print(display)
    assert console.export_text().rstrip().endswith("epoch 1")
