"""stepline's `mlflow.run` interception for course-style pipeline roots (standard library only).

stepline puts this directory on PYTHONPATH when it runs a pipeline root whose `main.py` calls
`mlflow.run(...)` per step. Python imports `sitecustomize` at start-up; this one:

- patches `mlflow.run` / `mlflow.projects.run` when the real `mlflow` is imported (so
  `mlflow.sklearn`, `infer_signature`, ... stay the real ones);
- provides a minimal `mlflow` module (just `run`) when the env has no mlflow at all;
- runs each call as a stepline step (tracked, cached, in its own env) by handing it to the
  stepline that launched the root: its step server (`$STEPLINE_STEP_SOCKET`, a fork of a warm
  process per call), else a new `$STEPLINE_PYTHON -m stepline.cli.mlflow_step REQUEST`.
  Nothing here imports stepline, so the root env needs none of its dependencies.

Then it chains to any other `sitecustomize` further down sys.path.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _execution() -> str:
    """This process's execution id: the launcher's, plus the Hydra job number in a multirun."""
    base = os.environ.get("STEPLINE_EXECUTION") or f"p{os.getpid()}"
    try:
        from hydra.core.hydra_config import HydraConfig

        cfg = HydraConfig.get()
        if str(cfg.mode).endswith("MULTIRUN"):
            return f"{base}-j{cfg.job.num}"
    except Exception:
        pass
    return base


def _pick(name: str) -> str | None:
    """WANDB_<name> when main.py changed it (it differs from STEPLINE_<name>), else STEPLINE_."""
    ours = os.environ.get(f"STEPLINE_{name}")
    theirs = os.environ.get(f"WANDB_{name}")
    return theirs if theirs and theirs != ours else (ours or theirs)


class SubmittedRun:
    """What `mlflow.run` returns: the step's run id; the step has already finished."""

    def __init__(self, run_id: str, status: str, cached_from: str | None = None) -> None:
        self.run_id = run_id
        self.cached_from = cached_from
        self._status = status

    def wait(self) -> bool:
        """True when the step succeeded (it ran synchronously)."""
        return self._status in ("finished", "cached")

    def get_status(self) -> str:
        """MLflow's status names."""
        return "FINISHED" if self.wait() else "FAILED"

    def cancel(self) -> None:
        """Nothing to cancel: the step already ended."""


def _failure(message: str) -> Exception:
    try:
        from mlflow.exceptions import ExecutionException

        return ExecutionException(message)  # type: ignore[no-any-return]
    except Exception:
        return RuntimeError(message)


def run(
    uri: Any,
    entry_point: str = "main",
    version: str | None = None,
    parameters: dict[str, Any] | None = None,
    docker_args: Any = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    backend: str = "local",
    backend_config: Any = None,
    storage_dir: str | None = None,
    synchronous: bool = True,
    run_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    build_image: bool = False,
    docker_auth: Any = None,
    **_: Any,
) -> SubmittedRun:
    """`mlflow.run`, executed as a stepline step (synchronously, cached, in its own env)."""
    request = {
        "uri": os.fspath(uri),
        "entry_point": entry_point,
        "version": version,
        "parameters": dict(parameters or {}),
        "env_manager": env_manager,
        "cwd": os.getcwd(),
        "run_name": run_name,
        "execution": _execution(),
        "launch": os.environ.get("STEPLINE_EXECUTION"),
        "project": _pick("PROJECT"),
        "group": _pick("RUN_GROUP"),
    }
    env = dict(os.environ)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != _HERE]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    for name, value in (("PROJECT", request["project"]), ("RUN_GROUP", request["group"])):
        if value:
            env[f"STEPLINE_{name}"] = env[f"WANDB_{name}"] = str(value)
    result = _via_server(request, env)
    code = 0 if result is not None else None
    if result is None:
        code, result = _via_process(request, env)
    if code != 0 or result.get("status") not in ("finished", "cached"):
        raise _failure(
            f"Run (ID '{result.get('run_id', '?')}') of {request['uri']} failed: "
            f"{result.get('error') or 'exit code ' + str(code)}"
        )
    return SubmittedRun(result["run_id"], result["status"], result.get("cached_from"))


def _via_server(request: dict[str, Any], env: dict[str, str]) -> dict[str, Any] | None:
    """Hand the call to the launcher's step server (a fork of a warm process), if it runs.

    None when there is no server to ask, so the caller starts a process instead.
    """
    import socket
    import time

    path = os.environ.get("STEPLINE_STEP_SOCKET")
    if not path or not hasattr(socket, "send_fds"):
        return None
    server = int(os.environ.get("STEPLINE_STEP_SERVER_PID") or 0)
    deadline = time.monotonic() + 60.0
    while not os.path.exists(path):  # the server binds its socket first thing
        try:
            if server:
                os.kill(server, 0)
        except OSError:  # it is gone
            return None
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)
    payload = json.dumps({"request": request, "env": env, "cwd": os.getcwd()}, default=str)
    data = len(payload.encode()).to_bytes(8, "big") + payload.encode()
    sys.stdout.flush()
    sys.stderr.flush()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(path)
            sent = socket.send_fds(conn, [data], [1, 2])
        except OSError:
            return None
        conn.sendall(data[sent:])
        reply = b""
        while chunk := conn.recv(1 << 16):
            reply += chunk
    try:
        return dict(json.loads(reply))
    except ValueError:
        return {"status": "failed", "error": "the step server ended without a result"}


def _via_process(request: dict[str, Any], env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Run the call in a new `$STEPLINE_PYTHON -m stepline.cli.mlflow_step` process."""
    fd, path = tempfile.mkstemp(prefix="stepline-mlflow-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(request, fh, default=str)
    python = env.get("STEPLINE_PYTHON") or sys.executable
    try:
        proc = subprocess.run([python, "-m", "stepline.cli.mlflow_step", path], env=env)
        try:
            with open(path + ".result") as fh:
                result = json.load(fh)
        except (OSError, ValueError):
            result = {}
    finally:
        for p in (path, path + ".result"):
            try:
                os.unlink(p)
            except OSError:
                pass
    return proc.returncode, result


def _patch(module: types.ModuleType) -> None:
    if module.__name__ in ("mlflow", "mlflow.projects"):
        module.run = run  # type: ignore[attr-defined]


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader | None) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.inner.create_module(spec) if self.inner else None

    def exec_module(self, module: types.ModuleType) -> None:
        if self.inner is None:  # no mlflow installed: a minimal one
            module.run = run  # type: ignore[attr-defined]
            module.__path__ = []  # type: ignore[attr-defined]
            return
        self.inner.exec_module(module)
        _patch(module)
        if module.__name__ == "mlflow" and "mlflow.projects" in sys.modules:
            _patch(sys.modules["mlflow.projects"])


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loaders of `mlflow` and `mlflow.projects` so `run` is ours once they load."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in ("mlflow", "mlflow.projects"):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        if fullname == "mlflow":
            return importlib.machinery.ModuleSpec("mlflow", _Loader(None), is_package=True)
        return None


def _install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name in ("mlflow", "mlflow.projects"):
        if name in sys.modules:
            _patch(sys.modules[name])


def _chain() -> None:
    """Run the next `sitecustomize` on sys.path, if there is one."""
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == _HERE:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_stepline_next_sitecustomize", candidate)
            if spec and spec.loader:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


_install()
_chain()
