"""Building venvs from locks with uv: shared, concurrency-safe, atomic, byte-compiled.

An env lives in `envs/<digest>` where digest = BLAKE3(lock digest + interpreter). It is built
in a temporary sibling directory (`uv venv --relocatable`, one `uv pip install` per lock layer,
then byte-compiled, reusing `.pyc` files of earlier envs: see `bytecode.py`) and renamed into
place only when every step succeeded, so a failed build leaves nothing a later run would reuse. A file lock per digest makes concurrent
builders of one env wait for the first and then reuse its result.

stepline's own dependencies live in a per-interpreter *runtime* env; a `.pth` file appends its
site-packages after the env's own, so a component's pins always win.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import blake3

from stepline.envs.bytecode import compile_env
from stepline.envs.interpreters import Interpreter
from stepline.envs.lock import Lock, LogFn, only_binary_args, resolve_lock, run_streamed, tail
from stepline.envs.paths import envs_dir, file_lock
from stepline.envs.spec import EnvSpec
from stepline.envs.uv import uv_bin
from stepline.errors import EnvError

META = "stepline-env.json"
FALLBACK_RUNTIME = (
    "blake3>=1.0",
    "sqlalchemy>=2.0",
    "platformdirs>=4",
    "pyyaml>=6",
    "click>=8.1",
    "rich>=13",
    "orjson>=3.9",
)


def runtime_requirements() -> tuple[str, ...]:
    """stepline's own runtime dependencies (from its installed metadata when available)."""
    from importlib import metadata

    try:
        requires = metadata.requires("stepline") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_RUNTIME
    core = tuple(r.split(";")[0].strip() for r in requires if "extra ==" not in r)
    return core or FALLBACK_RUNTIME


@dataclass(frozen=True)
class BuiltEnv:
    """A ready environment."""

    path: Path
    digest: str
    interpreter: Interpreter
    built_now: bool = False
    log: str = ""

    @property
    def python(self) -> Path:
        """The env's python executable."""
        return self.path / "bin" / "python"

    @property
    def bin_dir(self) -> Path:
        """The env's scripts directory (put first on PATH)."""
        return self.path / "bin"


def env_digest(lock: Lock) -> str:
    """The key of the env built from `lock`: lock digest + interpreter identity."""
    return blake3.blake3(f"{lock.digest}\n{lock.interpreter.key}".encode()).hexdigest()[:32]


def find_built(digest: str, interp: Interpreter) -> BuiltEnv | None:
    """The env with `digest` when it is completely built, else None."""
    path = envs_dir() / digest
    if (path / META).is_file():
        return BuiltEnv(path=path, digest=digest, interpreter=interp)
    return None


def site_packages(env: Path, interp: Interpreter) -> Path:
    """`lib/pythonX.Y/site-packages` of a venv."""
    major, minor = interp.version.split(".")[:2]
    return env / "lib" / f"python{major}.{minor}" / "site-packages"


def runtime_env(interp: Interpreter, on_log: LogFn | None = None) -> BuiltEnv:
    """The env holding stepline's own dependencies for `interp` (built once per interpreter)."""
    spec = EnvSpec(kind="requirements", layers=(runtime_requirements(),))
    lock = resolve_lock(spec, interp, on_log)
    return build_env(lock, on_log, runtime=None, meta={"role": "stepline-runtime"})


def build_env(
    lock: Lock,
    on_log: LogFn | None = None,
    runtime: BuiltEnv | None = None,
    meta: dict[str, object] | None = None,
    notes: Sequence[str] = (),
) -> BuiltEnv:
    """Return the env for `lock`, building it first if needed (see the module docstring).

    `notes` (what the spec's translation changed or skipped) open the build log."""
    digest = env_digest(lock)
    interp = lock.interpreter
    if (hit := find_built(digest, interp)) is not None:
        return hit
    root = envs_dir()
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / ".locks" / f"{digest}.lock"):
        if (hit := find_built(digest, interp)) is not None:
            return hit
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".build-{digest[:12]}-"))
        log: list[str] = [f"note: {note}\n" for note in notes]
        if on_log is not None:
            for note in notes:
                on_log(f"note: {note}")

        def step(args: list[str], what: str) -> None:
            log.append(f"$ {' '.join(args)}\n")
            if on_log is not None:
                on_log(f"$ {' '.join(args)}")
            rc, text = run_streamed(args, on_log)
            log.append(text)
            if rc != 0:
                raise EnvError(f"env {digest[:12]}: {what} failed:\n{tail(text)}")

        try:
            venv = tmp / "env"
            step(
                [uv_bin(), "venv", "--relocatable", "--quiet", "--python", interp.path, str(venv)],
                "creating the venv",
            )
            for i, layer in enumerate(lock.layers):
                req = tmp / f"layer{i}.txt"
                req.write_text(layer)
                if not layer.strip():
                    continue
                python = str(venv / "bin" / "python")
                args = [uv_bin(), "pip", "install", "--python", python, "--no-python-downloads"]
                args += only_binary_args()
                step([*args, "-r", str(req)], f"installing layer {i + 1}")
            linked, compiled = compile_env(
                site_packages(venv, interp), venv / "bin" / "python", interp.version, on_log
            )
            note = f"bytecode: {linked} files linked from earlier envs, {compiled} compiled\n"
            log.append(note)
            if on_log is not None:
                on_log(note.rstrip())
            if runtime is not None:
                pth = site_packages(venv, interp) / "zz_stepline_runtime.pth"
                pth.write_text(str(site_packages(runtime.path, interp)) + "\n")
            for i, layer in enumerate(lock.layers):
                (venv / f"stepline-lock-{i}.txt").write_text(layer)
            (venv / "stepline-build.log").write_text("".join(log))
            info = {
                "digest": digest,
                "lock_digest": lock.digest,
                "python": interp.version,
                "interpreter": interp.path,
                "created": time.time(),
                "layers": len(lock.layers),
                **(meta or {}),
            }
            (venv / META).write_text(json.dumps(info, indent=1))
            target = root / digest
            if target.exists():  # a leftover without META (crash before rename): not reusable
                shutil.rmtree(target)
            venv.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        return BuiltEnv(
            path=target, digest=digest, interpreter=interp, built_now=True, log="".join(log)
        )


def mark_used(env: BuiltEnv, component: str | None = None) -> None:
    """Record that `env` was activated now (by `component`), for `env ls` and `env prune`."""
    try:
        (env.path / ".last-used").touch()
        if component:
            users = env.path / ".components"
            users.mkdir(exist_ok=True)
            (users / component.replace(os.sep, "_")[:120]).touch()
    except OSError:
        pass
