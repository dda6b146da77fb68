"""The `pipeline.yaml` model and its loader.

A pipeline file has a `config:` tree and `steps:`; step fields may interpolate the config with
OmegaConf (`${etl.min_price}`), and Hydra-style overrides (`etl.min_price=20`, `+new.key=1`,
`~old.key`) are applied to the config before interpolation. Everything that can be checked
without the store is checked here, so a bad file fails before anything runs:

    spec = load_pipeline("pipeline.yaml", overrides=["etl.min_price=20"])
    spec.steps["basic_cleaning"].parameters["min_price"]   # "20"
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from stepline.errors import InvalidReference, SpecError, require
from stepline.pipeline.refs import ArtifactRef, parse_ref

PIPELINE_KEYS = ("name", "project", "description", "config", "steps")
STEP_KEYS = (
    "component",
    "entry_point",
    "parameters",
    "inputs",
    "outputs",
    "after",
    "version",
    "env_manager",
)
_PARAMS_ROOT = "__stepline_steps__"


@dataclass(frozen=True)
class StepSpec:
    """One step: a component run with resolved parameters, linked by artifacts."""

    name: str
    component: str  # absolute local path, or a git URI as written
    entry_point: str = "main"
    parameters: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[ArtifactRef, ...] = ()
    outputs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    version: str | None = None
    env_manager: str | None = None

    @property
    def is_local(self) -> bool:
        """True when the component is a directory on this machine."""
        return not is_remote_uri(self.component)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (used for the spec digest and the execution record)."""
        return {
            "name": self.name,
            "component": self.component,
            "entry_point": self.entry_point,
            "parameters": dict(self.parameters),
            "inputs": [str(i) for i in self.inputs],
            "outputs": list(self.outputs),
            "after": list(self.after),
            "version": self.version,
            "env_manager": self.env_manager,
        }


@dataclass(frozen=True)
class PipelineSpec:
    """A loaded, validated pipeline: resolved config and steps in declaration order."""

    name: str
    project: str | None
    path: Path
    config: Mapping[str, Any]
    steps: Mapping[str, StepSpec]
    overrides: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        """The directory component paths are relative to."""
        return self.path.parent

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the resolved pipeline."""
        return {
            "name": self.name,
            "project": self.project,
            "config": self.config,
            "steps": {n: s.to_dict() for n, s in self.steps.items()},
        }

    @property
    def digest(self) -> str:
        """Digest of the resolved pipeline (config after overrides, steps after interpolation)."""
        from stepline.pipeline.cache import digest_json

        return digest_json(self.to_dict())


def is_remote_uri(component: str) -> bool:
    """True for git URIs (`https://…`, `git+…`, `git@…`, `file://…`), false for local paths."""
    return "://" in component or component.startswith(("git@", "git+"))


def find_pipeline_file(path: str | Path | None) -> Path:
    """The pipeline file for PATH: a file as given, or `pipeline.yaml`/`pipeline.yml` in a dir."""
    p = Path(path) if path is not None else Path.cwd()
    if p.is_dir():
        for candidate in ("pipeline.yaml", "pipeline.yml"):
            if (p / candidate).is_file():
                return (p / candidate).resolve()
        raise SpecError(
            f"{p}: no pipeline.yaml here; pass the pipeline file, e.g. stepline run pipeline.yaml"
        )
    if not p.is_file():
        raise SpecError(f"{p}: no such pipeline file")
    return p.resolve()


def load_pipeline(path: str | Path | None = None, overrides: Iterable[str] = ()) -> PipelineSpec:
    """Load and validate a pipeline file, applying Hydra-style `overrides` to its config.

    Raises `SpecError` naming the file, step and key for: unknown keys, bad interpolations,
    unknown components, entry points or parameters, malformed artifact references, duplicate
    outputs, unknown `after:` steps and cycles.
    """
    file = find_pipeline_file(path)
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{file}: not valid YAML: {exc}") from exc
    return parse_pipeline(raw, file, overrides)


def parse_pipeline(raw: Any, file: Path, overrides: Iterable[str] = ()) -> PipelineSpec:
    """Validate an already-parsed pipeline document; see `load_pipeline`."""
    require("omegaconf", "pipeline")
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(raw, dict):
        raise SpecError(
            f"{file}: a pipeline file is a mapping with keys {', '.join(PIPELINE_KEYS)}"
        )
    unknown = sorted(set(raw) - set(PIPELINE_KEYS))
    if unknown:
        raise SpecError(
            f"{file}: unknown key {unknown[0]!r}; a pipeline has {', '.join(PIPELINE_KEYS)}"
        )
    name = raw.get("name") or file.parent.name
    project = raw.get("project")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise SpecError(f"{file}: 'config' must be a mapping, got {type(config).__name__}")
    steps_raw = _steps_mapping(raw.get("steps"), file)
    for step, body in steps_raw.items():
        unknown = sorted(set(body) - set(STEP_KEYS))
        if unknown:
            raise SpecError(
                f"{file}: step {step!r}: unknown key {unknown[0]!r}; "
                f"a step has {', '.join(STEP_KEYS)}"
            )
        if "component" not in body:
            raise SpecError(f"{file}: step {step!r}: missing 'component' (a path or git URI)")

    cfg = OmegaConf.create(config)
    override_list = tuple(overrides)
    apply_overrides(cfg, override_list, file)
    try:
        resolved_config = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise SpecError(f"{file}: config: {_omega_msg(exc)}") from exc
    assert isinstance(resolved_config, dict)
    config_out: dict[str, Any] = {str(k): v for k, v in resolved_config.items()}

    root = OmegaConf.create({**config_out, _PARAMS_ROOT: steps_raw})
    steps: dict[str, StepSpec] = {}
    for step, body in steps_raw.items():
        built = _build_step(step, body, root, file)
        if project is not None:  # `<this project>/name:alias` is the same as `name:alias`
            inputs = tuple(
                replace(r, project=None) if r.project == str(project) else r for r in built.inputs
            )
            built = replace(built, inputs=inputs)
        steps[step] = built

    _check_outputs(steps, file)
    from stepline.pipeline.dag import build_dag

    build_dag(steps)  # unknown `after:` targets and cycles
    return PipelineSpec(
        name=str(name),
        project=str(project) if project is not None else None,
        path=file,
        config=config_out,
        steps=steps,
        overrides=override_list,
    )


def apply_overrides(cfg: Any, overrides: Iterable[str], file: Path | str = "overrides") -> None:
    """Apply Hydra-style overrides to an OmegaConf node in place.

    `a.b=v` changes an existing key (values parsed as YAML: `10`, `true`, `[1,2]`),
    `+a.b=v` adds a key, `~a.b` removes one. Raises `SpecError` naming the override.
    """
    from omegaconf import OmegaConf

    missing = object()
    for text in overrides:
        if text.startswith("~"):
            key = text[1:].split("=", 1)[0]
            parent_key, _, leaf = key.rpartition(".")
            parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
            if parent is None or leaf not in parent:
                raise SpecError(f"override {text!r}: config has no key {key!r}")
            del parent[leaf]
            continue
        add = text.startswith("+")
        body = text[1:] if add else text
        key, sep, value_text = body.partition("=")
        if not sep or not key:
            raise SpecError(f"override {text!r}: expected key.path=value, e.g. etl.min_price=20")
        try:
            value = yaml.safe_load(value_text) if value_text != "" else ""
        except yaml.YAMLError:
            value = value_text
        exists = OmegaConf.select(cfg, key, default=missing) is not missing
        if not exists and not add:
            raise SpecError(
                f"override {text!r}: config in {file} has no key {key!r}; "
                f"use +{key}={value_text} to add it"
            )
        OmegaConf.update(cfg, key, value, merge=True, force_add=True)


def _steps_mapping(steps: Any, file: Path) -> dict[str, dict[str, Any]]:
    if steps is None:
        raise SpecError(f"{file}: no 'steps:'; a pipeline needs at least one step")
    out: dict[str, dict[str, Any]] = {}
    if isinstance(steps, list):  # also accept a list of {name: ..., component: ...}
        for i, body in enumerate(steps):
            if not isinstance(body, dict) or "name" not in body:
                raise SpecError(f"{file}: steps[{i}]: a listed step needs a 'name'")
            body = dict(body)
            out[str(body.pop("name"))] = body
    elif isinstance(steps, dict):
        for name, body in steps.items():
            if not isinstance(body, dict):
                raise SpecError(f"{file}: step {name!r}: expected a mapping with 'component'")
            out[str(name)] = dict(body)
    else:
        raise SpecError(f"{file}: 'steps' must be a mapping of step name to step")
    for name in out:
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise SpecError(f"{file}: step name {name!r}: use letters, digits, '_' and '-'")
    if not out:
        raise SpecError(f"{file}: no 'steps:'; a pipeline needs at least one step")
    return out


def _omega_msg(exc: Exception) -> str:
    return str(exc).splitlines()[0]


def _resolve(root: Any, step: str, key: str, file: Path) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        value = OmegaConf.select(root, f"{_PARAMS_ROOT}.{step}.{key}", throw_on_missing=True)
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
    except OmegaConfBaseException as exc:
        raise SpecError(f"{file}: step {step!r}: {key}: {_omega_msg(exc)}") from exc
    return value


def _as_param(value: Any, step: str, key: str, file: Path) -> str:
    if value is None:
        raise SpecError(f"{file}: step {step!r}: parameters.{key} is null; give it a value")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _str_list(value: Any, step: str, key: str, file: Path) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise SpecError(f"{file}: step {step!r}: '{key}' must be a list of names")
    return [str(v) for v in value]


def _build_step(step: str, body: dict[str, Any], root: Any, file: Path) -> StepSpec:
    component = str(_resolve(root, step, "component", file))
    if not is_remote_uri(component):
        component = str((file.parent / component).resolve())
    entry_point = str(_resolve(root, step, "entry_point", file) or "main")
    params_raw = body.get("parameters") or {}
    if not isinstance(params_raw, dict):
        raise SpecError(f"{file}: step {step!r}: 'parameters' must be a mapping")
    parameters = {
        str(k): _as_param(_resolve(root, step, f"parameters.{k}", file), step, str(k), file)
        for k in params_raw
    }
    inputs: list[ArtifactRef] = []
    for i, text in enumerate(_str_list(_resolve(root, step, "inputs", file), step, "inputs", file)):
        try:
            inputs.append(parse_ref(text))
        except InvalidReference as exc:
            raise SpecError(f"{file}: step {step!r}: inputs[{i}]: {exc}") from exc
    outputs = _str_list(_resolve(root, step, "outputs", file), step, "outputs", file)
    for out in outputs:
        if ":" in out or "/" in out:
            raise SpecError(
                f"{file}: step {step!r}: output {out!r}: "
                "name the artifact only, e.g. clean_sample.csv"
            )
    after = _str_list(body.get("after"), step, "after", file)
    version = _resolve(root, step, "version", file)
    env_manager = _resolve(root, step, "env_manager", file)
    spec = StepSpec(
        name=step,
        component=component,
        entry_point=entry_point,
        parameters=parameters,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        after=tuple(after),
        version=str(version) if version is not None else None,
        env_manager=str(env_manager) if env_manager is not None else None,
    )
    if spec.is_local:
        _check_component(spec, body.get("component"), file)
    return spec


def _check_component(step: StepSpec, written: Any, file: Path) -> None:
    """Check a local component exists and declares the entry point and parameters used."""
    path = Path(step.component)
    if not path.is_dir():
        raise SpecError(
            f"{file}: step {step.name!r}: component {written!r}: no directory {path} "
            "(a component is a directory with an MLproject, or a git URI)"
        )
    mlproject = next(
        (path / n for n in ("MLproject", "MLproject.yaml") if (path / n).is_file()), None
    )
    if mlproject is None:
        raise SpecError(
            f"{file}: step {step.name!r}: component {written!r}: no MLproject in {path}"
        )
    try:
        doc = yaml.safe_load(mlproject.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{mlproject}: not valid YAML: {exc}") from exc
    entry_points = doc.get("entry_points") or {}
    if step.entry_point not in entry_points:
        if step.entry_point.endswith((".py", ".sh")) and (path / step.entry_point).is_file():
            return
        known = ", ".join(sorted(entry_points)) or "none"
        raise SpecError(
            f"{file}: step {step.name!r}: entry_point {step.entry_point!r} is not in {mlproject} "
            f"(entry points: {known})"
        )
    declared = (entry_points[step.entry_point] or {}).get("parameters") or {}
    for key in step.parameters:
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise SpecError(
                f"{file}: step {step.name!r}: parameters.{key}: entry point {step.entry_point!r} "
                f"of {written!r} has no such parameter (declared: {known})"
            )
    for key, decl in declared.items():
        has_default = isinstance(decl, dict) and decl.get("default") is not None
        if key not in step.parameters and not has_default:
            raise SpecError(
                f"{file}: step {step.name!r}: parameters.{key} is required by {written!r} "
                f"(entry point {step.entry_point!r}) and has no default"
            )


def _check_outputs(steps: Mapping[str, StepSpec], file: Path) -> None:
    producer: dict[str, str] = {}
    for step in steps.values():
        for out in step.outputs:
            if out in producer:
                raise SpecError(
                    f"{file}: step {step.name!r}: output {out!r} is also produced by step "
                    f"{producer[out]!r}; each artifact has one producing step"
                )
            producer[out] = step.name
