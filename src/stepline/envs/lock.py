"""Resolving an `EnvSpec` to a lock: one fully pinned requirements text per layer.

Each layer is compiled with `uv pip compile` for the chosen interpreter. A layer after the
first starts from the previous layer's pins as preferences (uv keeps versions already in the
output file when it can), so a pip section only moves what it has to, as pip over conda does.

Every layer is compiled under the user's constraints (`--constraint`, STEPLINE_CONSTRAINTS,
`[tool.stepline] constraints`) and with the heavy scientific packages taken from wheels only
(`settings.only_binary`), so an old pin fails in seconds with what to change instead of
compiling numpy for minutes. Locks are cached by the digest of the spec's layers, the
interpreter, the constraints (uv's own UV_CONSTRAINT/UV_OVERRIDE files included) and the
wheel-only list; `refresh=True` re-resolves.

`lock_spec` also picks the interpreter: the requested one, or for a spec that pins no Python,
the current one, else the newest interpreter present for which every pin has a wheel
(remembered per spec). A pinned Python with no wheel fails at once, saying what to pin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3

from stepline.envs import settings
from stepline.envs.interpreters import Interpreter, present, select
from stepline.envs.paths import cache_dir, file_lock
from stepline.envs.spec import EnvSpec, requirement_name
from stepline.envs.urls import git_urls, rewrite_hint
from stepline.envs.uv import uv_bin
from stepline.errors import EnvError, NoWheel

LogFn = Callable[[str], None]
_NO_WHEEL = re.compile(
    r"Because (?:only )?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<spec>[=<>!~]=?[^\s,]+)? "
    r"(?:has|have) no (?:usable )?wheels"
)
_WHEELS_REQUIRED = re.compile(r"Wheels are required for `(?P<name>[^`]+)`")


def uv_command(*args: str) -> list[str]:
    """The argv of a uv subcommand (one place that knows how uv is found)."""
    return [uv_bin(), *args]


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


def resolve_options() -> dict[str, object]:
    """What besides the spec changes a resolve: constraints (stepline's and uv's own) and the
    packages taken from wheels only."""
    options: dict[str, object] = {}
    if constraints := settings.constraints():
        options["constraints"] = constraints
    if uv_files := settings.uv_files_text():
        options["uv"] = uv_files
    only = settings.only_binary()
    if only != settings.HEAVY_PACKAGES:
        options["only_binary"] = list(only)
    return options


def spec_digest(spec: EnvSpec, interp: Interpreter | None) -> str:
    """What a lock depends on: the requirement layers, the interpreter (None: the choice among
    those present) and `resolve_options()`."""
    payload = json.dumps(
        {
            "layers": spec.layers,
            "python": interp.key if interp else "auto",
            **resolve_options(),
        },
        sort_keys=True,
    )
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


def only_binary_args() -> list[str]:
    """uv's `--only-binary` for the packages never built from source here."""
    only = settings.only_binary()
    return ["--only-binary", ",".join(only)] if only else []


def _no_wheel(spec: EnvSpec, interp: Interpreter, text: str) -> NoWheel | None:
    """A NoWheel error when uv's output says a package has no usable wheel, else None."""
    match = _NO_WHEEL.search(text) or _WHEELS_REQUIRED.search(text)
    if match is None:
        return None
    name = match.group("name")
    wanted = [
        line
        for layer in spec.layers
        for line in layer
        if requirement_name(line) == re.sub(r"[-_.]+", "-", name).lower()
    ]
    pin = wanted[0] if wanted else name
    python = ".".join(interp.version.split(".")[:2])
    where = spec.source or "the env spec"
    return NoWheel(
        f"{where}: no wheel of {pin} for Python {python}; pin python to a version it has "
        f"wheels for, or relax {name} (or set {settings.ONLY_BINARY_VAR}=:none: to build it "
        "from source)",
        package=pin,
        python=python,
    )


def _failure(spec: EnvSpec, interp: Interpreter, i: int, text: str) -> EnvError:
    where = spec.source or "the env spec"
    message = (
        f"{where}: cannot resolve its requirements for Python {interp.version} "
        f"(layer {i + 1} of {len(spec.layers)}):\n{tail(text)}"
    )
    urls = [url for line in spec.layers[i] for url in git_urls(line)]
    if urls and ("git" in text.lower() or "fetch" in text.lower()):
        message += f"\ngit URL {urls[0]} could not be fetched: {rewrite_hint(urls)}"
    return EnvError(message)


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
            extra: list[str] = only_binary_args()
            if constraints := settings.constraints():
                constraint_file = Path(tmp) / "constraints.txt"
                constraint_file.write_text("\n".join(constraints) + "\n")
                extra += ["--constraint", str(constraint_file)]
                if on_log is not None:
                    on_log(f"constraints: {', '.join(constraints)}")
            for i, layer in enumerate(spec.layers):
                src = Path(tmp) / f"layer{i}.in"
                out = Path(tmp) / f"layer{i}.txt"
                src.write_text("\n".join(layer) + "\n")
                out.write_text(previous)
                args = uv_command("pip", "compile", str(src), "-o", str(out))
                args += ["--python", interp.path, *extra]
                args += ["--no-header", "--no-annotate", "--quiet", "--no-python-downloads"]
                rc, text = run_streamed(args, on_log, cwd=spec.base_dir)
                if rc != 0:
                    raise _no_wheel(spec, interp, text) or _failure(spec, interp, i, text)
                previous = out.read_text()
                layers.append(previous)
        lock = Lock(layers=tuple(layers), interpreter=interp, spec_digest=digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = target.with_suffix(f".tmp{os.getpid()}")
        tmp_file.write_text(json.dumps({"layers": layers, "python": interp.key}))
        tmp_file.replace(target)
        return lock


def _choice_file(spec: EnvSpec) -> Path:
    return cache_dir() / "locks" / f"python-{spec_digest(spec, None)[:32]}.json"


def lock_spec(spec: EnvSpec, on_log: LogFn | None = None, refresh: bool = False) -> Lock:
    """Pick the interpreter for `spec` and resolve its lock (see the module docstring)."""
    where = str(spec.source) if spec.source else ""
    interp = select(spec.python, where)
    if spec.python:
        return resolve_lock(spec, interp, on_log, refresh)
    choice = _choice_file(spec)
    if not refresh:
        try:
            data = json.loads(choice.read_text())
            if Path(data["path"]).is_file():
                interp = Interpreter(path=data["path"], version=data["version"])
        except (OSError, ValueError, KeyError):
            pass
    try:
        return resolve_lock(spec, interp, on_log, refresh)
    except NoWheel as first:
        tried = [first.python]
        for other in present():
            minor = ".".join(other.version.split(".")[:2])
            if minor in tried:
                continue
            tried.append(minor)
            if on_log is not None:
                on_log(f"{first.package}: no wheel for Python {tried[0]}; trying {other.version}")
            try:
                lock = resolve_lock(spec, other, on_log, refresh)
            except NoWheel:
                continue
            except EnvError as exc:
                if on_log is not None:
                    on_log(f"Python {other.version}: {str(exc).splitlines()[-1]}")
                continue
            choice.parent.mkdir(parents=True, exist_ok=True)
            tmp = choice.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"path": other.path, "version": other.version}))
            tmp.replace(choice)
            if on_log is not None:
                on_log(f"using Python {other.version}: the newest here with wheels for every pin")
            return lock
        raise NoWheel(
            f"{where or 'the env spec'}: no wheel of {first.package} for Python "
            f"{', '.join(tried)} (the interpreters on this machine); pin python to a version "
            f"it has wheels for, or relax {requirement_name(first.package) or first.package} "
            f"(or set {settings.ONLY_BINARY_VAR}=:none: to build it from source)",
            package=first.package,
            python=first.python,
        ) from first
