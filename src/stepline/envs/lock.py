"""Resolving an `EnvSpec` to a lock: one fully pinned requirements text per layer.

Each layer is compiled with `uv pip compile` for the chosen interpreter. A layer after the
first starts from the previous layer's pins as preferences (uv keeps versions already in the
output file when it can), so a pip section only moves what it has to, as pip over conda does.
Locks are cached by the digest of the spec's layers + interpreter; `refresh=True` re-resolves.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3

from stepline.envs.interpreters import Interpreter
from stepline.envs.paths import cache_dir, file_lock
from stepline.envs.spec import EnvSpec
from stepline.errors import EnvError

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class Lock:
    """Pinned requirement texts per layer, for one interpreter."""

    layers: tuple[str, ...]
    interpreter: Interpreter
    spec_digest: str

    @property
    def digest(self) -> str:
        """BLAKE3 of the pinned layers and the interpreter version."""
        h = blake3.blake3(f"python {self.interpreter.version}\n".encode())
        for layer in self.layers:
            h.update(b"\0layer\0" + layer.encode())
        return h.hexdigest()


def uv_env() -> dict[str, str]:
    """The environment for uv subprocesses: never download interpreters, never prompt."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env["UV_NO_PROGRESS"] = "1"
    return env


def spec_digest(spec: EnvSpec, interp: Interpreter) -> str:
    """What a lock depends on: the requirement layers and the interpreter."""
    payload = json.dumps({"layers": spec.layers, "python": interp.key}, sort_keys=True)
    return blake3.blake3(payload.encode()).hexdigest()


def _lock_file(digest: str) -> Path:
    return cache_dir() / "locks" / f"{digest[:32]}.json"


def cached_lock(spec: EnvSpec, interp: Interpreter) -> Lock | None:
    """The lock resolved earlier for this spec and interpreter, if any."""
    digest = spec_digest(spec, interp)
    try:
        data = json.loads(_lock_file(digest).read_text())
    except (OSError, ValueError):
        return None
    return Lock(layers=tuple(data["layers"]), interpreter=interp, spec_digest=digest)


def run_streamed(args: list[str], on_log: LogFn | None, cwd: Path | None = None) -> tuple[int, str]:
    """Run a command, passing each output line (stdout+stderr) to `on_log`; return (rc, text)."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=uv_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if on_log is not None:
            on_log(line.rstrip("\n"))
    return proc.wait(), "".join(lines)


def tail(text: str, n: int = 12) -> str:
    """The last `n` non-empty lines of `text`."""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def resolve_lock(
    spec: EnvSpec, interp: Interpreter, on_log: LogFn | None = None, refresh: bool = False
) -> Lock:
    """Compile every layer of `spec` for `interp` (cached; see the module docstring)."""
    digest = spec_digest(spec, interp)
    if not refresh and (hit := cached_lock(spec, interp)) is not None:
        return hit
    target = _lock_file(digest)
    with file_lock(target.with_suffix(".lock")):
        if not refresh and (hit := cached_lock(spec, interp)) is not None:
            return hit
        layers: list[str] = []
        with tempfile.TemporaryDirectory(prefix="stepline-lock-") as tmp:
            previous = ""
            for i, layer in enumerate(spec.layers):
                src = Path(tmp) / f"layer{i}.in"
                out = Path(tmp) / f"layer{i}.txt"
                src.write_text("\n".join(layer) + "\n")
                out.write_text(previous)
                args = ["uv", "pip", "compile", str(src), "-o", str(out), "--python", interp.path]
                args += ["--no-header", "--no-annotate", "--quiet", "--no-python-downloads"]
                rc, text = run_streamed(args, on_log, cwd=spec.base_dir)
                if rc != 0:
                    where = spec.source or "the env spec"
                    raise EnvError(
                        f"{where}: cannot resolve its requirements for Python {interp.version} "
                        f"(layer {i + 1} of {len(spec.layers)}):\n{tail(text)}"
                    )
                previous = out.read_text()
                layers.append(previous)
        lock = Lock(layers=tuple(layers), interpreter=interp, spec_digest=digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = target.with_suffix(f".tmp{os.getpid()}")
        tmp_file.write_text(json.dumps({"layers": layers, "python": interp.key}))
        tmp_file.replace(target)
        return lock
