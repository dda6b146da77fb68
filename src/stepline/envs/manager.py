"""The env manager port: plan an env for a component (cheap), then activate it (may build).

    plan = plan_env(project.env, "uv")        # resolves the lock (cached), picks the interpreter
    plan.digest                               # env digest, known before anything is built
    active = activate(plan, on_log=print)     # builds once, then reuses
    active.env                                # PATH / VIRTUAL_ENV / PYTHONPATH to run under
    active.argv("python run.py")              # ["bash", "-c", ...] or a `docker run ...`

Managers: `local` (the current interpreter), `uv`, `conda` (a conda/mamba/micromamba binary when
one is on PATH, else the spec translated to uv), `docker`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from stepline.envs import docker as docker_mod
from stepline.envs.build import BuiltEnv, build_env, env_digest, find_built, mark_used, runtime_env
from stepline.envs.interpreters import Interpreter
from stepline.envs.lock import Lock, LogFn, lock_spec, run_streamed, tail
from stepline.envs.paths import cache_dir, envs_dir, file_lock
from stepline.envs.ref import DockerEnv, EnvRef
from stepline.envs.spec import EnvSpec, load_spec
from stepline.errors import EnvError, SteplineError, UsageError

MANAGERS = ("local", "uv", "conda", "docker")
CONDA_BINARIES = ("micromamba", "mamba", "conda")


@dataclass(frozen=True)
class EnvPlan:
    """Which env a component will run in, with its digest (nothing built yet)."""

    manager: str
    digest: str
    spec: EnvSpec | None = None
    lock: Lock | None = None
    docker: DockerEnv | None = None
    conda_binary: str | None = None

    real_wandb: bool = False

    @property
    def wants_wandb(self) -> bool:
        """True when stepline's drop-in `wandb` goes on the component's path.

        A built env gets it when its spec asked for wandb. A component run in stepline's own
        interpreter (`local`: a folder with a script and no env spec) always gets it, so
        `component run DIR -e script.py` works for a script that imports wandb; `--wandb real`
        leaves the interpreter's own wandb, if any, in charge.
        """
        if self.manager == "local":
            return not self.real_wandb
        return bool(self.spec and self.spec.wants_wandb)


@dataclass
class ActiveEnv:
    """An env ready to run commands in."""

    plan: EnvPlan
    env: dict[str, str] = field(default_factory=dict)
    built: BuiltEnv | None = None
    build_log: str = ""
    store_dir: Path | None = None
    component_dir: Path | None = None

    def python(self) -> tuple[str | None, str | None]:
        """(path, version) of the interpreter `python` means in this env; None where unknown
        (a docker image; a conda env's version until asked)."""
        if self.plan.manager == "docker":
            return None, None
        if self.built is not None:
            return str(self.built.python), self.built.interpreter.version
        if self.plan.manager == "conda":
            prefix = self.env.get("CONDA_PREFIX")
            return (str(Path(prefix) / "bin" / "python") if prefix else None), None
        return sys.executable, sys.version.split()[0]

    def argv(self, command: str, run_env: Mapping[str, str] | None = None) -> list[str]:
        """The process to start for `command` (bash -c, or docker run ... bash -c)."""
        if self.plan.manager == "docker" and self.plan.docker is not None:
            client = docker_mod.find_client()
            return docker_mod.docker_argv(
                self.plan.docker,
                self.component_dir or Path.cwd(),
                command,
                run_env or self.env,
                self.store_dir,
                client=client,
            )
        return ["bash", "-c", command]


def default_manager(env: EnvRef) -> str:
    """uv for python_env, conda for conda_env, docker for docker_env, local for none."""
    return {"python_env": "uv", "conda_env": "conda", "docker_env": "docker"}.get(env.kind, "local")


def conda_binary() -> str | None:
    """A conda-compatible binary on PATH, if any."""
    for name in CONDA_BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


def plan_env(
    env: EnvRef,
    manager: str | None = None,
    on_log: LogFn | None = None,
    real_wandb: bool = False,
) -> EnvPlan:
    """Decide the env for a component: resolve its lock (cached) and digest; build nothing."""
    manager = manager or default_manager(env)
    if manager not in MANAGERS:
        raise UsageError(f"unknown env manager {manager!r}; valid: {', '.join(MANAGERS)}")
    if manager == "local":
        spec = _local_spec(env, real_wandb)
        return EnvPlan(manager="local", digest="local", spec=spec, real_wandb=real_wandb)
    spec = load_spec(env.file, real_wandb) if env.file is not None else None
    if manager == "docker":
        if env.docker is None:
            raise UsageError(
                "--env-manager docker needs a docker_env in the MLproject (image, volumes, ...)"
            )
        return EnvPlan(manager="docker", digest=f"docker:{env.docker.image}", docker=env.docker)
    if env.kind == "docker_env":
        raise UsageError(f"a docker_env component cannot run with --env-manager {manager}")
    if manager == "conda":
        if env.kind == "python_env":
            raise UsageError("a python_env component cannot use --env-manager conda; use uv")
        binary = conda_binary()
        if binary is not None and spec is not None and spec.conda_text is not None:
            digest = blake3.blake3(spec.conda_text.encode()).hexdigest()[:32]
            digest = f"conda-{digest}"
            return EnvPlan(manager="conda", digest=digest, spec=spec, conda_binary=binary)
    if spec is None:
        spec = EnvSpec(kind="local")
    lock = lock_spec(spec, on_log)
    return EnvPlan(manager="uv", digest=env_digest(lock), spec=spec, lock=lock)


def _local_spec(env: EnvRef, real_wandb: bool) -> EnvSpec | None:
    """The spec, read only to know whether wandb is wanted: its errors do not stop a local run."""
    if env.file is None:
        return None
    try:
        return load_spec(env.file, real_wandb)
    except SteplineError:
        text = env.file.read_text(encoding="utf-8", errors="replace")
        return EnvSpec(
            kind="local", source=env.file, wants_wandb="wandb" in text and not real_wandb
        )


def shim_dir(wandb: bool) -> Path:
    """A directory for PYTHONPATH with only `stepline` and, when asked for, the drop-in `wandb`."""
    from stepline.compat import WANDB_DROPIN_DIR

    package = Path(__file__).resolve().parents[1]  # the `stepline` package folder
    key = blake3.blake3(f"{package}\n{wandb}\nshim-2".encode()).hexdigest()[:16]
    target = cache_dir() / "shims" / key
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".shim-"))
    (tmp / "stepline").symlink_to(package)
    if wandb:
        (tmp / "wandb").symlink_to(WANDB_DROPIN_DIR / "wandb")
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _pythonpath(shim: Path, base: Mapping[str, str]) -> str:
    existing = base.get("PYTHONPATH", "")
    return f"{shim}{os.pathsep}{existing}" if existing else str(shim)


def activate(
    plan: EnvPlan,
    on_log: LogFn | None = None,
    component: str | None = None,
    base_env: Mapping[str, str] | None = None,
) -> ActiveEnv:
    """Build (once) or reuse the planned env; return the variables to run under."""
    base = dict(os.environ if base_env is None else base_env)
    base.pop("PYTHONHOME", None)
    if plan.manager == "docker":
        docker_mod.check_engine(docker_mod.find_client())
        return ActiveEnv(plan=plan, env=base)
    shim = shim_dir(wandb=plan.wants_wandb)
    if plan.manager == "local":
        base["PYTHONPATH"] = _pythonpath(shim, base)
        here = str(Path(sys.executable).parent)  # `python` is the interpreter running stepline
        base["PATH"] = f"{here}{os.pathsep}{base.get('PATH', '')}"
        return ActiveEnv(plan=plan, env=base)
    if plan.manager == "conda":
        prefix, log = _conda_env(plan, on_log)
        base["PATH"] = f"{prefix / 'bin'}{os.pathsep}{base.get('PATH', '')}"
        base["CONDA_PREFIX"] = str(prefix)
        base["PYTHONPATH"] = _pythonpath(shim, base)
        return ActiveEnv(plan=plan, env=base, build_log=log)
    assert plan.lock is not None
    interp: Interpreter = plan.lock.interpreter
    built = find_built(plan.digest, interp)
    if built is None:
        runtime = runtime_env(interp, on_log)
        notes = plan.spec.notes if plan.spec else ()
        built = build_env(plan.lock, on_log, runtime=runtime, meta=_meta(plan), notes=notes)
    mark_used(built, component)
    base["VIRTUAL_ENV"] = str(built.path)
    base["PATH"] = f"{built.bin_dir}{os.pathsep}{base.get('PATH', '')}"
    base["PYTHONPATH"] = _pythonpath(shim, base)
    return ActiveEnv(plan=plan, env=base, built=built, build_log=built.log)


def _meta(plan: EnvPlan) -> dict[str, object]:
    spec = plan.spec
    return {"spec": str(spec.source) if spec and spec.source else None, "role": "component"}


def _conda_env(plan: EnvPlan, on_log: LogFn | None) -> tuple[Path, str]:
    """Create (once) a conda env with the real binary; a failed create is removed."""
    assert plan.conda_binary is not None and plan.spec is not None and plan.spec.source
    prefix = envs_dir() / plan.digest
    marker = prefix / "conda-meta" / ".stepline-complete"
    if marker.is_file():
        return prefix, ""
    with file_lock(envs_dir() / ".locks" / f"{plan.digest}.lock"):
        if marker.is_file():
            return prefix, ""
        shutil.rmtree(prefix, ignore_errors=True)
        args = [plan.conda_binary, "env", "create", "-y", "-p", str(prefix)]
        args += ["-f", str(plan.spec.source)]
        rc, text = run_streamed(args, on_log)
        if rc != 0:
            shutil.rmtree(prefix, ignore_errors=True)
            raise EnvError(f"{plan.spec.source}: conda env create failed:\n{tail(text)}")
        marker.write_text("ok\n")
        return prefix, text
