"""A component's processes die with their launcher: SIGTERM to `stepline component run`,
SIGKILL of `stepline run` (a course root whose main.py calls mlflow.run). Real processes.

The component starts a background `sleep` and a foreground python, each writing its pid;
after the launcher is signalled, neither may survive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stepline

SRC = Path(__file__).resolve().parents[2] / "src"
COMMAND = (
    'sleep 300 & echo $! > "$PIDS/bg.pid"; '
    "python -c \"import os, time; open(os.environ['PIDS'] + '/fg.pid', 'w')"
    '.write(str(os.getpid())); time.sleep(300)"; echo after'
)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(predicate, seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def component(root: Path) -> Path:
    comp = root / "sleeper"
    comp.mkdir(parents=True)
    (comp / "run.sh").write_text(COMMAND + "\n")
    (comp / "MLproject").write_text(
        "name: sleeper\nentry_points:\n  main:\n    command: bash run.sh\n"
    )
    return comp


def launch(args: list[str], cwd: Path, pids: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PIDS": str(pids),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from stepline.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def started(pids: Path, launcher: subprocess.Popen[str]) -> list[int]:
    files = [pids / "bg.pid", pids / "fg.pid"]
    if not wait_for(lambda: all(f.is_file() and f.read_text().strip() for f in files), 120):
        launcher.kill()
        pytest.fail(f"the component did not start: {launcher.communicate()}")
    return [int(f.read_text()) for f in files]


def test_sigterm_to_component_run_stops_the_component(tmp_path: Path) -> None:
    comp = component(tmp_path)
    pids = tmp_path / "pids"
    pids.mkdir()
    launcher = launch(["component", "run", str(comp), "--project", "p"], tmp_path, pids)
    children = started(pids, launcher)
    launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=60)
    try:
        assert wait_for(lambda: not any(alive(p) for p in children)), "a child outlived it"
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert launcher.returncode == 128 + signal.SIGTERM, err
    (run,) = stepline.Api().runs("p")
    assert run.state == "failed" and run.info.get("interrupted") is True


@pytest.mark.parametrize("how", ["component run", "course root"])
def test_sigkill_of_the_launcher_stops_the_component(tmp_path: Path, how: str) -> None:
    comp = component(tmp_path)
    pids = tmp_path / "pids"
    pids.mkdir()
    if how == "component run":
        args = ["component", "run", str(comp)]
    else:
        (tmp_path / "MLproject").write_text(
            "name: root\nentry_points:\n  main:\n    command: python main.py\n"
        )
        (tmp_path / "main.py").write_text('import mlflow\nmlflow.run("sleeper", "main")\n')
        args = ["run", "."]
    launcher = launch(args, tmp_path, pids)
    children = started(pids, launcher)
    launcher.kill()
    launcher.communicate(timeout=60)
    try:
        assert wait_for(lambda: not any(alive(p) for p in children)), "a child outlived it"
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


STUBBORN = (
    'sleep 300 & echo $! > "$PIDS/bg.pid"; '
    'exec python -c "import os, signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); '
    "open(os.environ['PIDS'] + '/fg.pid', 'w').write(str(os.getpid())); time.sleep(300)\""
)
RUNNER = (
    "import signal, sys; from pathlib import Path\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from stepline.components.runner import run_process\n"
    "run_process(['bash', '-c', sys.argv[1]], Path.cwd(), __import__('os').environ, Path('logs'))\n"
)


def test_a_second_interrupt_during_the_stop_still_stops_the_group(tmp_path: Path) -> None:
    """Two SIGINTs close together (a fork hears its root go and its server stop): the second
    cuts the graceful stop short, and the watchdog must still end the group."""
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "PYTHONPATH": str(SRC), "PIDS": str(pids)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    launcher = subprocess.Popen(
        [sys.executable, "-c", RUNNER, STUBBORN],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children = started(pids, launcher)
    launcher.send_signal(signal.SIGINT)
    time.sleep(1.0)  # inside stop_group's grace: the foreground ignores SIGINT
    launcher.send_signal(signal.SIGINT)
    launcher.communicate(timeout=60)
    try:
        assert wait_for(lambda: not any(alive(p) for p in children)), "a child outlived it"
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
