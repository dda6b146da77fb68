"""The MLproject file: MLflow's format in full, parsed into a small typed model.

A component is a directory. Its `MLproject` (matched case-insensitively) names at most one
environment (`conda_env`, `python_env` or `docker_env`) and any number of entry points, each a
command template with typed parameters::

    name: basic_cleaning
    conda_env: conda.yml
    entry_points:
      main:
        parameters:
          input_artifact: {type: str, description: Input artifact}
          min_price: {type: float, default: 10}
          data_file: path          # a bare type: required
        command: python run.py {input_artifact} --min_price {min_price}

stepline reads one extension: `resources: {cpus: 2, gpus: 0, memory: 4GB}` at the top level
(every entry point) or in an entry point (overriding the top level key by key), saying what a
run needs of the machine it runs on; the Ray executor reserves it, and a pipeline step's own
`resources:` override the component's, key by key (`stepline.components.resources`).

Without an MLproject, `python_env.yaml`, then `conda.yaml`/`conda.yml`, then the current
interpreter is used, and an entry point that names a `.py` or `.sh` file runs that file.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline.components.resources import parse_resources
from stepline.envs.ref import DockerEnv, EnvRef, detect_env
from stepline.errors import SpecError, UnknownEntryPoint
from stepline.formats.yaml import YamlDoc, dotted, load_yaml

PARAM_TYPES = ("string", "str", "float", "int", "number", "path", "uri")
ENV_KEYS = ("conda_env", "python_env", "docker_env")
TOP_KEYS = ("name", *ENV_KEYS, "entry_points", "resources")
PARAM_KEYS = ("type", "default", "description")
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Parameter:
    """One declared parameter; `default is None` means required."""

    name: str
    type: str = "string"
    default: Any = None
    description: str | None = None

    @property
    def required(self) -> bool:
        """True when the user must give a value."""
        return self.default is None


@dataclass(frozen=True)
class EntryPoint:
    """A command template and its parameters."""

    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    #: the entry point's own `resources:` (cpus, gpus, memory in bytes), without the top level's
    resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    """A parsed component directory."""

    name: str
    directory: Path
    env: EnvRef
    entry_points: dict[str, EntryPoint]
    file: Path | None = None
    #: the top-level `resources:` (cpus, gpus, memory in bytes), for every entry point
    resources: dict[str, float] = field(default_factory=dict)

    def resources_of(self, entry_point: EntryPoint) -> dict[str, float]:
        """What a run of `entry_point` asks for: the top level's, the entry point's on top."""
        return {**self.resources, **entry_point.resources}

    def entry_point(self, name: str) -> EntryPoint:
        """The declared entry point `name`, or a `.py`/`.sh` file in the component run directly."""
        if name in self.entry_points:
            return self.entry_points[name]
        if name.endswith((".py", ".sh")):
            target = (self.directory / name).resolve()
            if not target.is_file():
                raise UnknownEntryPoint(
                    f"entry point '{name}' is a file name but {target} does not exist"
                )
            runner = "python" if name.endswith(".py") else "bash"
            return EntryPoint(name=name, command=f"{runner} {shlex.quote(name)}")
        if self.file is None:
            scripts = sorted(p.name for p in self.directory.glob("*.py"))[:5]
            hint = f" (here: {', '.join(scripts)})" if scripts else ""
            raise UnknownEntryPoint(
                f"no MLproject in {self.directory}: entry point '{name}' needs one; add an "
                f"MLproject (stepline component new NAME writes one), or run a script in the "
                f"folder directly with -e script.py{hint}"
            )
        declared = ", ".join(sorted(self.entry_points)) or "none"
        where = self.file or self.directory
        raise UnknownEntryPoint(
            f"{where}: no entry point '{name}'; declared: {declared} "
            "(or name a .py/.sh file in the component)"
        )


def find_mlproject(directory: Path) -> Path | None:
    """The MLproject file in `directory`, matched case-insensitively, or None.

    MLflow's rule (`mlflow.projects._project_spec._find_mlproject`): a file named `MLproject`
    in any case; `MLproject.yaml` is not one. Validation (`pipeline.spec`), execution
    (`components.prepare`) and course-root detection all call this.
    """
    try:
        for child in directory.iterdir():
            if child.name.lower() == "mlproject" and child.is_file():
                return child
    except OSError:
        return None
    return None


def load_project(directory: str | Path) -> Project:
    """Parse the component in `directory` (with or without an MLproject file)."""
    root = Path(directory).resolve()
    if not root.is_dir():
        raise SpecError(f"{root}: not a component directory (it does not exist or is a file)")
    file = find_mlproject(root)
    if file is None:
        return Project(name=root.name, directory=root, env=detect_env(root), entry_points={})
    return parse_mlproject(load_yaml(file), root)


def _type_name(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def parse_mlproject(doc: YamlDoc, root: Path) -> Project:
    """Validate a loaded MLproject document into a `Project`."""
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{doc.where()}: an MLproject must be a mapping, not {_type_name(data)}")
    unknown = [k for k in data if k not in TOP_KEYS and not str(k).startswith("stepline")]
    if unknown:
        raise SpecError(
            f"{doc.where(str(unknown[0]))}: unknown key; valid keys: {', '.join(TOP_KEYS)}"
        )
    env_keys = [k for k in ENV_KEYS if k in data]
    if len(env_keys) > 1:
        raise SpecError(
            f"{doc.where(env_keys[1])}: both {env_keys[0]} and {env_keys[1]} are set; "
            "an MLproject may name at most one of conda_env, python_env, docker_env"
        )
    name = data.get("name")
    if name is not None and not isinstance(name, (str, int, float)):
        raise SpecError(f"{doc.where('name')}: name must be a string, not {_type_name(name)}")
    name = str(name) if name is not None else root.name
    env = _parse_env(doc, root, env_keys[0]) if env_keys else detect_env(root)
    if env.kind == "docker_env" and "name" not in data:
        raise SpecError(f"{doc.where('docker_env')}: a docker_env project needs a 'name'")
    raw_eps = data.get("entry_points") or {}
    if not isinstance(raw_eps, dict):
        raise SpecError(
            f"{doc.where('entry_points')}: entry_points must be a mapping of name → "
            f"{{parameters, command}}, not {_type_name(raw_eps)}"
        )
    entry_points = {str(k): _parse_entry_point(doc, str(k), v) for k, v in raw_eps.items()}
    resources = _parse_resources(doc, ())
    return Project(
        name=name,
        directory=root,
        env=env,
        entry_points=entry_points,
        file=doc.path,
        resources=resources,
    )


def _parse_resources(doc: YamlDoc, at: tuple[str, ...]) -> dict[str, float]:
    """The `resources:` under `at` (the top level, or an entry point), validated."""
    node: Any = doc.data
    for key in at:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or node.get("resources") is None:
        return {}
    # `MLproject:7:5: entry_points.train: resources: cpus -1 must be a number >= 0, ...`, at
    # the line of the `resources:` key
    pos = doc.position(*at, "resources")
    loc = f"{doc.path}:{pos[0]}:{pos[1]}" if pos else str(doc.path)
    return parse_resources(node["resources"], f"{loc}: {dotted(at)}" if at else loc)


def _parse_env(doc: YamlDoc, root: Path, key: str) -> EnvRef:
    value = doc.data[key]
    if key == "docker_env":
        return EnvRef(kind="docker_env", docker=_parse_docker(doc, value))
    if not isinstance(value, str) or not value:
        raise SpecError(f"{doc.where(key)}: {key} must be a file name such as conda.yml")
    file = (root / value).resolve()
    if not file.is_file():
        raise SpecError(f"{doc.where(key)}: {key} file '{value}' not found in {root}")
    return EnvRef(kind=key, file=file)  # type: ignore[arg-type]


def _parse_docker(doc: YamlDoc, value: Any) -> DockerEnv:
    if not isinstance(value, dict) or not isinstance(value.get("image"), str):
        raise SpecError(
            f"{doc.where('docker_env')}: docker_env needs an 'image' "
            "(and optional 'volumes' list, 'environment' list)"
        )
    volumes = value.get("volumes") or []
    if not isinstance(volumes, list) or not all(isinstance(v, str) for v in volumes):
        raise SpecError(
            f"{doc.where('docker_env', 'volumes')}: volumes must be a list of 'host:container'"
        )
    env_items: list[str | tuple[str, str]] = []
    for i, item in enumerate(value.get("environment") or []):
        if isinstance(item, str):
            env_items.append(item)
        elif isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
            env_items.append((item[0], str(item[1])))
        else:
            raise SpecError(
                f"{doc.where('docker_env', 'environment', i)}: an environment item is "
                '"VAR" (copied from the host) or ["VAR", "value"]'
            )
    return DockerEnv(image=value["image"], volumes=tuple(volumes), environment=tuple(env_items))


def _parse_entry_point(doc: YamlDoc, name: str, value: Any) -> EntryPoint:
    at = ("entry_points", name)
    if not isinstance(value, dict):
        raise SpecError(
            f"{doc.where(*at)}: entry point must be a mapping with 'command' and 'parameters'"
        )
    command = value.get("command")
    if not isinstance(command, str) or not command.strip():
        raise SpecError(f"{doc.where(*at, 'command')}: entry point '{name}' needs a command string")
    raw_params = value.get("parameters") or {}
    if not isinstance(raw_params, dict):
        raise SpecError(
            f"{doc.where(*at, 'parameters')}: parameters must be a mapping of name → type "
            "or {type, default, description}"
        )
    params = {
        str(k): _parse_param(doc, (*at, "parameters", str(k)), v) for k, v in raw_params.items()
    }
    resources = _parse_resources(doc, at)
    return EntryPoint(name=name, command=command, parameters=params, resources=resources)


def _parse_param(doc: YamlDoc, at: tuple[str, ...], value: Any) -> Parameter:
    name = at[-1]
    if not PARAM_NAME.fullmatch(name):
        raise SpecError(
            f"{doc.where(*at)}: parameter name {name!r} is not allowed; names match "
            "[A-Za-z_][A-Za-z0-9_.-]* (a letter or _, then letters, digits, _ . -)"
        )
    if value is None or isinstance(value, str):
        return Parameter(name=name, type=_check_type(doc, at, value or "string"))
    if not isinstance(value, dict):
        raise SpecError(
            f"{doc.where(*at)}: a parameter is a type ({'|'.join(PARAM_TYPES)}) "
            "or a mapping {type, default, description}"
        )
    for key in value:
        if key not in PARAM_KEYS:
            raise SpecError(
                f"{doc.where(*at, str(key))}: unknown parameter key; valid: {', '.join(PARAM_KEYS)}"
            )
    ptype = _check_type(doc, (*at, "type"), value.get("type") or "string")
    description = value.get("description")
    return Parameter(
        name=name,
        type=ptype,
        default=value.get("default"),
        description=str(description) if description is not None else None,
    )


def _check_type(doc: YamlDoc, at: tuple[str, ...], ptype: Any) -> str:
    if ptype not in PARAM_TYPES:
        raise SpecError(
            f"{doc.where(*at)}: unknown parameter type {ptype!r}; valid types: "
            f"{', '.join(PARAM_TYPES)}"
        )
    return str(ptype)
