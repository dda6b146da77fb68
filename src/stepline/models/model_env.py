"""The environment a model package is loaded in by `stepline serve` and `stepline predict`.

As MLflow does, a package is served from the environment it was saved with: its
`python_env.yaml` (else `conda.yaml`, else `requirements.txt`) is built with uv, cached like a
component env (`stepline.envs`), with one more layer for the scoring server (fastapi,
uvicorn) resolved over the model's own pins. stepline itself reaches that env through its
runtime env and shim, so the model's pins win.

`mlflow` requirements (an MLflow-saved package lists the mlflow that wrote it) are left out:
stepline loads the package itself, as it stands in for `wandb` in component envs.

When stepline's own interpreter already satisfies the package (same Python minor version,
every `name==version` pin installed at that version) nothing is built: the package is loaded
here. `env_manager="local"` always loads it here, whatever it pins.

    menv = model_env(Path("export"), "uv", on_log=print)
    menv.local            # False: a model saved with scikit-learn 1.7.2, stepline has 1.9.1
    menv.argv(["serve", "export", "--port", "5000"])   # stepline's CLI in the model's python
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from stepline.envs.lock import LogFn
from stepline.envs.spec import SPEC_FILES, EnvSpec, load_spec, requirement_name
from stepline.errors import UsageError

ENV_MANAGERS = ("uv", "virtualenv", "conda", "local")
# what the scoring server needs besides the model's own requirements (stepline[server])
SERVER_LAYER = ("fastapi>=0.110", "uvicorn>=0.29")
# requirements a package lists for its loader, which stepline is here
LOADER_PROVIDED = frozenset({"mlflow", "mlflow-skinny", "stepline"})
NOT_CHECKED = frozenset({"pip", "setuptools", "wheel"})
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)\s*$")


@dataclass(frozen=True)
class ModelEnv:
    """Where a model package is loaded: stepline's own interpreter, or a built env."""

    python: str
    local: bool
    reason: str
    env: dict[str, str] = field(default_factory=dict)
    digest: str | None = None

    def argv(self, cli_args: list[str]) -> list[str]:
        """The command that runs `stepline CLI_ARGS` in this env's interpreter."""
        return [self.python, "-c", "from stepline.cli import main; main()", *cli_args]


def unmet_requirements(spec: EnvSpec) -> list[str]:
    """What of `spec` stepline's own interpreter does not have (empty: it can load it here)."""
    unmet: list[str] = []
    if spec.python:
        have = platform.python_version().split(".")[:2]
        if spec.python.split(".")[:2] != have:
            unmet.append(f"python {spec.python} (this is {'.'.join(have)})")
    for layer in spec.layers:
        for line in layer:
            name = requirement_name(line)
            if name is None or name in NOT_CHECKED | LOADER_PROVIDED:
                continue
            try:
                installed = metadata.version(name)
            except metadata.PackageNotFoundError:
                unmet.append(f"{line} (not installed)")
                continue
            pin = _PIN.match(line)
            if pin is None:
                continue
            wanted = pin.group(2)
            same = (
                installed.startswith(wanted[:-1]) if wanted.endswith("*") else installed == wanted
            )
            if not same:
                unmet.append(f"{line} (this has {installed})")
    return unmet


def _spec_file(package: Path) -> Path | None:
    for name in SPEC_FILES:
        if (package / name).is_file():
            return package / name
    return None


def model_env(package: Path, env_manager: str = "uv", on_log: LogFn | None = None) -> ModelEnv:
    """Decide (and build, once) the env `package` is loaded in (see the module docstring)."""
    import sys

    if env_manager not in ENV_MANAGERS:
        raise UsageError(f"unknown --env-manager {env_manager!r}; valid: {', '.join(ENV_MANAGERS)}")
    if env_manager == "local":
        return ModelEnv(sys.executable, True, "--env-manager local: stepline's own interpreter")
    spec_file = _spec_file(package)
    if env_manager == "conda" and (package / "conda.yaml").is_file():
        spec_file = package / "conda.yaml"
    if spec_file is None:
        return ModelEnv(sys.executable, True, f"{package} has no environment files")
    spec = load_spec(spec_file)
    unmet = unmet_requirements(spec)
    if not unmet:
        return ModelEnv(
            sys.executable, True, f"stepline's interpreter has what {spec_file.name} pins"
        )
    return _built(package, spec, spec_file, unmet, on_log)


def _built(
    package: Path, spec: EnvSpec, spec_file: Path, unmet: list[str], on_log: LogFn | None
) -> ModelEnv:
    from dataclasses import replace

    from stepline.envs.build import build_env, env_digest, find_built, runtime_env
    from stepline.envs.lock import lock_spec
    from stepline.envs.manager import shim_dir

    if on_log is not None:
        on_log(f"{spec_file}: needs {'; '.join(unmet[:3])}{' …' if len(unmet) > 3 else ''}")
    layers = tuple(
        tuple(line for line in layer if requirement_name(line) not in LOADER_PROVIDED)
        for layer in spec.layers
    )
    served = replace(spec, layers=(*layers, SERVER_LAYER))
    lock = lock_spec(served, on_log)

    built = find_built(env_digest(lock), lock.interpreter)
    if built is None:
        runtime = runtime_env(lock.interpreter, on_log)
        meta: dict[str, object] = {"spec": str(spec_file), "role": "model"}
        built = build_env(lock, on_log, runtime=runtime, meta=meta, notes=spec.notes)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
    shim = str(shim_dir(wandb=False))
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{shim}{os.pathsep}{existing}" if existing else shim
    env["VIRTUAL_ENV"] = str(built.path)
    env["PATH"] = f"{built.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return ModelEnv(
        python=str(built.python),
        local=False,
        reason=f"env {built.digest[:12]} from {spec_file.name} (Python {lock.interpreter.version})",
        env=env,
        digest=built.digest,
    )
