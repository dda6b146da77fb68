"""The Ray executor: each pipeline step runs as one Ray Core task.

    with RayExecutor(runner, address="auto") as ex:       # or "local", "ray://host:10001"
        result = run_pipeline(spec, executor=ex)

The scheduler (`stepline.pipeline.run`) is unchanged: it decides cache hits, records cached
runs and the execution, and hands this executor only the steps that must run. A task runs the
same `Runner.execute` as the local executor, in a Ray worker, and returns plain data (run id,
status, exit code, output tails); the step's outputs are read back from the store by the
scheduler, so tasks pass references, never artifact bytes.

Environments are built (once per lock digest) here on the driver before a step's task is
submitted; the worker's `execute` then finds the env built and only runs the command with the
env's interpreter. No task installs anything. This holds for a single-machine cluster, where
the driver and the workers share the env cache and the store (`STEPLINE_DIR`, sent with each
task). On a multi-node cluster both must be on a shared filesystem at the same path (as for the
nodes of one machine that the tests start), or the driver records to a team server
(`STEPLINE_TRACKING_URI`): tasks then get its URI and the driver's token and keep their node's
own folders, and read and write runs and artifacts through the server (`driver_environ`). A
worker without the driver's env cache builds the env itself (once per node, under the env's
file lock).

Step `resources:` map to Ray's `num_cpus`, `num_gpus` and `memory` (bytes); a step that no
node of the cluster could hold fails at once instead of waiting forever. A task is retried
only when its worker or node is lost and only for a step marked `retries: N` in pipeline.yaml
(it says the step is safe to run again); a component that fails is never retried, since its
exit code is its answer. `cancel()` calls
`ray.cancel` on every task not yet finished; a running task gets KeyboardInterrupt, which stops
the component's process group and ends its run failed.

Ray is an extra (`pip install 'stepline[ray]'`); this is the only module that imports it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stepline.backends.base import Backend, RunQuery
from stepline.errors import MissingExtra, StepFailed, SteplineError, UsageError
from stepline.pipeline.executors import Cancelled, StepTask, terminate_children
from stepline.pipeline.ports import PreparedStep, Runner, StepResult

INSTALL = "pip install 'stepline[ray]'"
ADDRESS_HELP = "auto (a running cluster), local (start one here) or ray://HOST:PORT"


def import_ray() -> Any:
    """`import ray`, or `MissingExtra` naming the install command."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra(
            f"the Ray executor needs Ray, which is not installed: {INSTALL}"
        ) from exc
    return ray


def check_address(address: str | None) -> str | None:
    """Validate `--address`; None means Ray's own default (RAY_ADDRESS, else start locally)."""
    if address is None or address in ("auto", "local") or address.startswith("ray://"):
        return address
    if ":" in address and not address.startswith(("http://", "https://")):
        return address  # HOST:PORT of a head's GCS, as `ray start` prints it
    raise UsageError(f"--address {address!r}: use {ADDRESS_HELP}, or HOST:PORT of a head node")


@dataclass(frozen=True)
class RemoteStepResult:
    """A step's outcome as a Ray task returns it (plain data; see `StepResult`)."""

    run_id: str
    status: str
    exit_code: int | None
    stderr_tail: Sequence[str] = field(default_factory=list)
    duration: float = 0.0
    stdout_tail: Sequence[str] = field(default_factory=list)


def ray_options(resources: Mapping[str, float], retries: int = 0) -> dict[str, Any]:
    """Ray task options for a step's `resources:` and `retries:` (validated by the spec loader).

    Ray's `max_retries` re-runs a task whose worker died; `retry_exceptions` stays off, so a
    step that raised or failed is not run again."""
    opts: dict[str, Any] = {"max_retries": retries, "retry_exceptions": False}
    if "cpus" in resources:
        opts["num_cpus"] = resources["cpus"]
    if "gpus" in resources:
        opts["num_gpus"] = resources["gpus"]
    if "memory" in resources:
        opts["memory"] = int(resources["memory"])
    return opts


# the worker's own STEPLINE_* variables (its node's, from where `ray start` ran), read before
# the first task of this long-lived worker process changed them
_NODE_ENV: dict[str, str] | None = None


def run_step_task(
    runner: Runner,
    prepared: PreparedStep,
    call: dict[str, Any],
    environ: dict[str, str],
    resources: dict[str, float],
) -> dict[str, Any]:
    """The body of a step's Ray task (runs in a Ray worker): execute, return plain data.

    `environ` carries the driver's STEPLINE_* variables (`driver_environ`) over the node's
    own, replacing any a previous task left in this long-lived worker.
    """
    global _NODE_ENV
    if _NODE_ENV is None:
        _NODE_ENV = {k: v for k, v in os.environ.items() if k.startswith("STEPLINE_")}
    for key in [k for k in os.environ if k.startswith("STEPLINE_")]:
        if key not in environ and key not in _NODE_ENV:
            del os.environ[key]
    os.environ.update({**_NODE_ENV, **environ})
    info = dict(call.get("info") or {})
    info["executor"] = {"name": "ray", "resources": resources, **_worker_facts()}
    result = _interruptible(lambda: runner.execute(prepared, **{**call, "info": info}))
    return {
        "run_id": result.run_id,
        "status": result.status,
        "exit_code": result.exit_code,
        "stderr_tail": list(result.stderr_tail),
        "duration": result.duration,
        "stdout_tail": list(getattr(result, "stdout_tail", []) or []),
    }


def _interruptible(fn: Callable[[], StepResult]) -> StepResult:
    """Run `fn` in a thread, so `ray.cancel`'s KeyboardInterrupt reaches this task.

    Ray raises it in the task's thread between bytecodes, which never happens while that thread
    blocks in `waitpid` for the component. Here the task's thread only polls; on the interrupt
    it stops the component's process group (as the local executor's cancel does), lets
    `execute` finish the run as failed, and re-raises so Ray reports the task cancelled.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, name="stepline-step", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        terminate_children(signal.SIGTERM)
        worker.join(30)
        raise
    if "error" in box:
        raise box["error"]
    result: StepResult = box["result"]
    return result


def _worker_facts() -> dict[str, Any]:
    try:
        import ray

        ctx = ray.get_runtime_context()
        return {
            "node_id": ctx.get_node_id(),
            "task_id": ctx.get_task_id(),
            "assigned": dict(ctx.get_assigned_resources()),
        }
    except Exception:  # outside a worker (tests call the body directly)
        return {}


def driver_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The STEPLINE_* variables a task needs (from `environ`, default this process's).

    With a local store, it is the driver's, resolved to an absolute path (the nodes share
    the driver's filesystem). With a team server (`STEPLINE_TRACKING_URI=http…`), tasks record
    to and read from the server: they get its URI and the driver's token (`$STEPLINE_TOKEN`,
    else the one `stepline login` stored, which other machines do not have), and keep their
    node's own folders (store, cache, config), which the driver's paths do not name there.
    """
    from stepline import _settings
    from stepline.settings import CACHE_DIR, CONFIG_DIR, DATABASE_URL, DIR, TOKEN, Settings

    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if k.startswith("STEPLINE_")}
    settings = Settings.from_env(source)
    if settings.tracking_uri.startswith(("http://", "https://")):
        for var in (DIR, CACHE_DIR, CONFIG_DIR, DATABASE_URL):
            env.pop(var, None)
        if not settings.token:
            from stepline.backends.http import stored_token

            token = stored_token(settings.tracking_uri)
            if token:
                env[TOKEN] = token
    else:
        env[DIR] = str(_settings.locate_store(settings=settings).path)
    for var in ("RUN_ID", "SCOPE"):  # per step, set by the runner; never inherited
        env.pop(f"STEPLINE_{var}", None)
    return env


_RAY_NAMES = {"cpus": "CPU", "gpus": "GPU", "memory": "memory"}


def infeasible(
    resources: Mapping[str, float],
    nodes: Sequence[Mapping[str, float]],
    asked_in: Mapping[str, str] | None = None,
) -> str | None:
    """Why no node (each given by its total resources) could run the step, or None.

    A task runs on one node, so a step asking for 2 CPUs cannot run on two nodes of one CPU.
    Ray would queue such a task forever; stepline fails the step instead. (An autoscaling
    cluster may add nodes later; this checks the nodes alive now.) `asked_in` names, per
    key, the file that asked for it (pipeline.yaml, or the component's MLproject).
    """
    asked_in = asked_in or {}
    wanted = {key: resources.get(key, 0) for key in _RAY_NAMES if resources.get(key, 0) > 0}
    if not wanted:
        return None

    def fits(node: Mapping[str, float]) -> bool:
        return all(float(node.get(_RAY_NAMES[k], 0)) >= v for k, v in wanted.items())

    if any(fits(node) for node in nodes):
        return None
    for key, want in wanted.items():
        largest = max((float(n.get(_RAY_NAMES[key], 0)) for n in nodes), default=0.0)
        if want > largest:
            return (
                f"resources.{key}: {want:g} requested but no node of the Ray cluster has more "
                f"than {largest:g} ({len(nodes)} node(s)); lower it in "
                f"{asked_in.get(key, 'pipeline.yaml')} or add a node"
            )
    asked = ", ".join(f"{k} {v:g}" for k, v in wanted.items())
    files = " and ".join(dict.fromkeys(asked_in.get(k, "pipeline.yaml") for k in wanted))
    return (
        f"resources: no node of the Ray cluster has {asked} together ({len(nodes)} node(s)); "
        f"lower them in {files} or add a node"
    )


def build_env_here(prepared: PreparedStep, on_log: Callable[[str], None] | None) -> None:
    """Build (or find) `prepared`'s env on this machine, as `execute` would."""
    plan = getattr(prepared, "plan", None)
    if plan is None or getattr(plan, "manager", None) == "docker":
        return  # a docker image is pulled by the node that runs it
    from stepline.envs.manager import activate

    activate(plan, on_log=on_log, component=prepared.name)


class RayExecutor:
    """Runs each step as a Ray task on a cluster (see the module docstring).

    `address`: None (Ray's default), `auto`, `local`, `ray://HOST:PORT` or a head's
    `HOST:PORT`. When Ray is already initialised in this process, that connection is used and
    left open. `init_kwargs` go to `ray.init` (e.g. `num_cpus` for a local cluster).
    `backend` is where the driver ends the runs of tasks whose worker was lost (default: the
    store this process's settings name, opened when first needed).
    """

    def __init__(
        self,
        runner: Runner,
        address: str | None = None,
        *,
        init_kwargs: Mapping[str, Any] | None = None,
        build_env: Callable[[PreparedStep, Callable[[str], None] | None], None] = build_env_here,
        backend: Backend | None = None,
    ) -> None:
        self.ray = import_ray()
        self.runner = runner
        self.address = check_address(address)
        self.build_env = build_env
        self._owns = False
        if not self.ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": "WARNING",
                **(init_kwargs or {}),
            }
            try:
                self.ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(
                    f"cannot reach a Ray cluster at --address {self.address or '(default)'}: "
                    f"{exc}; use {ADDRESS_HELP}"
                ) from exc
            self._owns = True
        self._remote = self.ray.remote(run_step_task)
        self._environ = driver_environ()
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="stepline-ray")
        self._lock = threading.Lock()
        self._refs: dict[Any, str] = {}
        self._envs: dict[str, threading.Lock] = {}
        self._built: set[str] = set()
        self._cancelled = threading.Event()
        self._resources: tuple[float, list[dict[str, float]]] | None = None
        self._store = backend

    def submit(self, task: StepTask) -> Future[StepResult]:
        """Build the step's env if needed, then submit its task; returns at once."""
        return self._pool.submit(self._run, task)

    def _ensure_env(self, task: StepTask) -> None:
        digest = task.prepared.env_digest
        with self._lock:
            lock = self._envs.setdefault(digest, threading.Lock())
        with lock:
            if digest in self._built:
                return
            out = task.on_output
            on_log = (lambda line: out("env", line)) if out is not None else None
            self.build_env(task.prepared, on_log)
            self._built.add(digest)

    def _run(self, task: StepTask) -> StepResult:
        if self._cancelled.is_set():
            raise Cancelled(task.step)
        why = (
            infeasible(task.resources, self._nodes(), task.resources_from)
            if task.resources
            else None
        )
        if why:
            raise StepFailed(f"step {task.step!r}: {why}", step=task.step)
        self._ensure_env(task)
        token = uuid.uuid4().hex  # names the runs of this task's attempts (info.ray_task)
        call = {
            "project": task.project,
            "group": task.group,
            "job_type": task.job_type,
            "run_name": task.run_name,
            "extra_env": dict(task.extra_env),
            "info": {**task.info, "ray_task": token},
        }
        with self._lock:
            if self._cancelled.is_set():
                raise Cancelled(task.step)
            ref = self._remote.options(**ray_options(task.resources, task.retries)).remote(
                self.runner, task.prepared, call, self._environ, dict(task.resources)
            )
            self._refs[ref] = task.step
        if task.on_start:
            task.on_start()  # submitted: Ray may still be waiting for resources
        try:
            data = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            # the worker ends the run itself as it stops the component; this driver may be on
            # its way out (Ctrl-C) and take its tasks' workers with it before that happens
            self._end_runs(token, f"step {task.step!r} was cancelled", worker_lost=False)
            raise Cancelled(task.step) from None
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else None
            if isinstance(cause, KeyboardInterrupt):
                raise StepFailed(f"step {task.step!r} was interrupted on its Ray worker") from exc
            if isinstance(cause, SteplineError):
                raise cause from exc
            raise StepFailed(f"step {task.step!r} raised on its Ray worker: {cause!r}") from exc
        except self.ray.exceptions.RayError as exc:  # worker or node lost, object lost, ...
            why = (
                f"after {task.retries} retr{'y' if task.retries == 1 else 'ies'}"
                if task.retries
                else "and it is not retried: mark it `retries: N` in pipeline.yaml if it is "
                "safe to run again"
            )
            message = f"step {task.step!r}: its Ray worker was lost ({type(exc).__name__}) {why}"
            lost = self._end_runs(token, message)
            raise StepFailed(message, step=task.step, run_id=lost[-1] if lost else "") from exc
        finally:
            with self._lock:
                self._refs.pop(ref, None)
        result = RemoteStepResult(**data)
        if task.retries:  # earlier attempts that lost their worker
            self._end_runs(
                token,
                f"its Ray worker was lost; run {result.run_id} ran the step again",
                keep=result.run_id,
            )
        if task.on_output:
            for line in result.stderr_tail:
                task.on_output("stderr", line + "\n")
        return result

    def _end_runs(
        self, token: str, error: str, keep: str = "", *, worker_lost: bool = True
    ) -> list[str]:
        """End `failed` the runs of a task's attempts still open, but `keep`: a worker that died
        (or was cancelled) left them `running` until their heartbeat went stale. Returns their
        ids, oldest first; a task whose worker went before its run began left none."""
        backend = self._backend()
        found = backend.find_runs(RunQuery(filters={"info.ray_task": token}, order=("created_at",)))
        lost = [r.id for r in found if r.id != keep]
        for run in found:
            if run.id != keep and run.state in ("running", "crashed"):
                backend.end_run(run.id, "failed", info={"error": error, "worker_lost": worker_lost})
        return lost

    def _backend(self) -> Backend:
        with self._lock:
            if self._store is None:
                from stepline.backends import open_backend
                from stepline.settings import Settings

                self._store = open_backend(Settings.from_env())
            return self._store

    def _nodes(self) -> list[dict[str, float]]:
        """Each live node's total resources, asked of Ray at most every 10 s (it is an RPC)."""
        now = time.monotonic()
        with self._lock:
            if self._resources is None or now - self._resources[0] > 10:
                nodes = [dict(n["Resources"]) for n in self.ray.nodes() if n.get("Alive")]
                self._resources = (now, nodes)
            return self._resources[1]

    def cancel(self) -> None:
        """Drop steps not yet submitted and `ray.cancel` every task still out."""
        self._cancelled.set()
        with self._lock:
            refs = list(self._refs)
        for ref in refs:
            try:
                self.ray.cancel(ref, recursive=True)
            except Exception:  # already finished or gone
                continue

    def shutdown(self) -> None:
        """Wait for the driver threads; disconnect from Ray when this executor connected."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
