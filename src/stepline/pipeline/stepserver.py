"""A step server for course-style roots: `mlflow.run` calls handled by forks of one warm process.

Without it each intercepted `mlflow.run` starts a Python process that imports stepline and
SQLAlchemy before it can even look the step up in the cache. The launcher starts this server
beside the root (`StepServer`); it binds a Unix socket, imports what running a step needs, and
forks once per request, so a cache hit costs a fork, not an interpreter start.

    with StepServer() as env:   # {"STEPLINE_STEP_SOCKET": "/tmp/…/sock", "…_SERVER_PID": "…"}
        execute(root, extra_env={**hook_env(execution), **env})

The hook (`mlflow_hook/sitecustomize.py`) sends a length-prefixed JSON message
`{"request", "env", "cwd"}` with its stdout and stderr attached (SCM_RIGHTS); the fork takes
that environment, folder and output, runs `run_mlflow_step`, and answers with one JSON line.
When the hook's end closes before the step ends (the root was stopped), the fork interrupts its
step as Ctrl-C would. The hook falls back to starting a process when no server answers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from types import TracebackType
from typing import Any

from stepline import settings
from stepline.states import SUCCEEDED

SOCKET_ENV = settings.STEP_SOCKET
PID_ENV = settings.STEP_SERVER_PID
_HEADER = 8


class StepServer:
    """Start the server for one launch; its environment variable for the root on enter."""

    def __init__(self) -> None:
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> dict[str, str]:
        if not hasattr(socket, "AF_UNIX") or not hasattr(socket, "recv_fds"):
            return {}
        self._dir = tempfile.mkdtemp(prefix="stepline-steps-")
        path = os.path.join(self._dir, "sock")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "stepline.cli.mlflow_step", "--serve", path, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return {SOCKET_ENV: path, PID_ENV: str(self._proc.pid)}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            # SIGINT: a fork still running a step stops it as Ctrl-C would
            for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGKILL, None)):
                try:
                    os.killpg(self._proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self._proc.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def serve(path: str, parent: int) -> None:
    """Accept requests on `path` until process `parent` is gone or SIGTERM arrives."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    # bound first, so a hook that connects now waits in the backlog; then warm up
    import stepline.backends.local
    import stepline.components.runner
    import stepline.metadata.executions  # SQLAlchemy: a step's cache lookup queries runs with it
    import stepline.pipeline.course  # noqa: F401

    listener.settimeout(0.5)
    children: set[int] = set()
    while os.getppid() == parent:
        for pid in list(children):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        pid = os.fork()
        if pid == 0:  # the fork handles this request and exits
            listener.close()
            code = 1
            try:
                code = _handle(conn)
            finally:
                os._exit(code)
        children.add(pid)
        conn.close()
    _stop_children(children)


def _stop_children(children: set[int], grace: float = 10.0) -> None:
    """SIGINT each fork (its step stops as on Ctrl-C), then SIGKILL those still there after
    `grace` seconds: a fork's death closes its watchdog's pipe, which stops its component."""
    for pid in children:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while children and time.monotonic() < deadline:
        for pid in list(children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                children.discard(pid)
        time.sleep(0.05)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 2)
    size = int.from_bytes(data[:_HEADER], "big")
    body = bytearray(data[_HEADER:])
    while len(body) < size:
        chunk = conn.recv(min(1 << 16, size - len(body)))
        if not chunk:
            raise ConnectionError("the request ended early")
        body.extend(chunk)
    return json.loads(bytes(body)), list(fds)


def _handle(conn: socket.socket) -> int:
    """Run one request in this fork (see the module docstring); returns the exit code."""
    message, fds = _receive(conn)
    if len(fds) == 2:
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(message["env"])
    os.chdir(message["cwd"])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # SIGINT stops the step as Ctrl-C would, even where the launcher inherited it ignored (a
    # background job of a non-interactive shell, as CI runs): Python then installs no handler
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch() -> None:  # the hook's end closed first: the root is gone, stop the step
        try:
            gone = conn.recv(1) == b""
        except OSError:
            gone = True
        if gone:
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, daemon=True).start()
    from stepline.cli.mlflow_step import handle_request

    result = handle_request(message["request"])
    sys.stdout.flush()
    sys.stderr.flush()
    conn.sendall((json.dumps(result) + "\n").encode())
    return 0 if result.get("status") in SUCCEEDED else 1


class ExecutorStepServer:
    """A step server in this process whose steps run on `executor` (`--executor ray`).

    The same socket protocol as `StepServer`, so the root's hook is unchanged, but each request
    is a thread of this process, the executor's driver: the cache decision, execution-scoped
    `latest` and the run records of a hit are made here, as for a forked request, and a step
    that must run becomes one task (`StepTask`) of the executor. Its output comes back as its
    tails, written to the root's stdout and stderr when the task ends. When the root goes away
    before its step ends (Ctrl-C, killed), the executor's tasks are cancelled.

        with ExecutorStepServer(ray_executor) as env:
            execute(root, extra_env={**hook_env(execution), **env})
    """

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self._dir: str | None = None
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()

    def __enter__(self) -> dict[str, str]:
        if not hasattr(socket, "AF_UNIX") or not hasattr(socket, "recv_fds"):
            raise OSError("a course-style root on an executor needs Unix sockets")
        self._dir = tempfile.mkdtemp(prefix="stepline-steps-")
        path = os.path.join(self._dir, "sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        accept = threading.Thread(target=self._accept, name="stepline-steps", daemon=True)
        accept.start()
        self._threads.append(accept)
        return {SOCKET_ENV: path, PID_ENV: str(os.getpid())}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if any(t.is_alive() for t in self._threads[1:]):
            self.executor.cancel()  # the root ended with steps still out
        for t in self._threads:
            t.join(timeout=60)
        if self._listener is not None:
            self._listener.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            t = threading.Thread(target=self._serve, args=(conn,), name="stepline-step")
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                message, fds = _receive(conn)
            except (OSError, ValueError):
                return  # not a hook's request: the hook then fails its mlflow.run
            out = os.fdopen(fds[0], "w", buffering=1) if len(fds) == 2 else sys.stdout
            err = os.fdopen(fds[1], "w", buffering=1) if len(fds) == 2 else sys.stderr
            lock = threading.Lock()

            def echo(stream: str, line: str) -> None:
                """A task's line to the root's own stdout or stderr (the descriptors it sent)."""
                target = err if stream == "stderr" else out
                with lock:
                    target.write(line if line.endswith("\n") else line + "\n")
                    target.flush()

            done = threading.Event()

            def watch() -> None:  # the hook's end closed first: the root is gone
                try:
                    gone = conn.recv(1) == b""
                except OSError:
                    gone = True
                if gone and not done.is_set():
                    self.executor.cancel()

            threading.Thread(target=watch, daemon=True).start()
            try:
                result = self._run(message, echo)
            finally:
                done.set()
                for stream in (out, err):
                    if stream not in (sys.stdout, sys.stderr):
                        stream.close()
            try:
                conn.sendall((json.dumps(result) + "\n").encode())
                # the hook reads to the end; shutdown (not only close) ends it while the
                # watcher thread still waits in recv on this socket
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the root is gone

    def _run(self, message: dict[str, Any], echo: Any) -> dict[str, Any]:
        from stepline.errors import SteplineError
        from stepline.pipeline.course import run_mlflow_step
        from stepline.pipeline.executors import Cancelled

        try:
            return run_mlflow_step(
                message["request"],
                on_output=echo,
                environ=message["env"],
                run_step=self._run_step,
            )
        except SteplineError as exc:
            echo("stderr", f"error: {exc}")
            return {"status": "failed", "run_id": "", "error": str(exc)}
        except Cancelled:
            return {"status": "failed", "run_id": "", "error": "cancelled: the root was stopped"}

    def _run_step(
        self,
        step: Any,
        *,
        project: str | None = None,
        group: str | None = None,
        run_name: str | None = None,
        extra_env: dict[str, str] | None = None,
        info: dict[str, Any] | None = None,
        on_output: Any = None,
        **_: Any,  # backend, settings, base_env: the task's are its worker's
    ) -> Any:
        """Run one prepared step as a task of the executor; its result (as `execute`'s)."""
        from stepline.components.mlproject import find_mlproject
        from stepline.pipeline.executors import StepTask

        resources = dict(getattr(step, "resources", None) or {})
        mlproject = str(find_mlproject(step.source_dir) or step.source_dir)
        task = StepTask(
            step=os.path.basename(str(step.source_dir)),
            prepared=step,
            project=project,
            group=group,
            run_name=run_name,
            job_type=None,  # as `execute` here: the component's init() names it
            extra_env=dict(extra_env or {}),
            info=dict(info or {}),
            resources=resources,
            resources_from=dict.fromkeys(resources, mlproject),
            # the env build log as it comes; the step's own output once its task ended
            on_output=(lambda stream, line: on_output(stream, line) if stream == "env" else None)
            if on_output is not None
            else None,
        )
        result = self.executor.submit(task).result()
        if on_output is not None:
            for stream in ("stdout", "stderr"):
                for line in getattr(result, f"{stream}_tail", None) or []:
                    on_output(stream, line)
        return result
