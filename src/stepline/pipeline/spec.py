"""The `pipeline.yaml` model and its loader.

A pipeline file has a `config:` tree and `steps:`; step fields may interpolate the config with
OmegaConf (`${etl.min_price}`), and Hydra-style overrides (`etl.min_price=20`, `+new.key=1`,
`~old.key`) are applied to the config before interpolation. Everything that can be checked
without the store is checked here, so a bad file fails before anything runs.

Values read from the environment (`${oc.env:TOKEN}`, often secrets) reach the steps resolved,
but what is recorded (`PipelineSpec.recorded_config`, `StepSpec.recorded`, `to_dict`) keeps the
interpolation text instead:

    spec = load_pipeline("pipeline.yaml", overrides=["etl.min_price=20"])
    spec.steps["basic_cleaning"].parameters["min_price"]   # "20"
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stepline.components.memo import remembered
from stepline.components.mlproject import load_project
from stepline.errors import InvalidReference, SpecError, UnknownEntryPoint, require
from stepline.formats.refs import ArtifactRef, parse_ref
from stepline.formats.yaml import KeyPath, YamlDoc, load_yaml
from stepline.pipeline.resources import parse_resources, parse_retries

if TYPE_CHECKING:
    from stepline.triggers.spec import Triggers

PIPELINE_KEYS = ("name", "project", "description", "config", "steps", "triggers")
STEP_KEYS = (
    "component",
    "entry_point",
    "parameters",
    "inputs",
    "outputs",
    "after",
    "version",
    "env_manager",
    "resources",
    "retries",
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
    # cpus / gpus / memory (bytes), see `stepline.pipeline.resources`
    resources: Mapping[str, float] = field(default_factory=dict)
    # re-runs allowed when the step's worker is lost: the step is safe to run again
    retries: int = 0
    #: parameters whose value came from the environment → their text (`${oc.env:TOKEN}`)
    recorded: Mapping[str, str] = field(default_factory=dict)

    @property
    def recorded_parameters(self) -> dict[str, str]:
        """The parameters as they are recorded: environment values replaced by their text."""
        return {**self.parameters, **self.recorded}

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
            "parameters": self.recorded_parameters,
            "inputs": [str(i) for i in self.inputs],
            "outputs": list(self.outputs),
            "after": list(self.after),
            "version": self.version,
            "env_manager": self.env_manager,
            # only when given, so pipelines without resources keep their spec digest
            **({"resources": dict(self.resources)} if self.resources else {}),
            **({"retries": self.retries} if self.retries else {}),
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
    #: `config` with each `${oc.env:...}` kept as text: what runs and records store
    recorded_config: Mapping[str, Any] | None = None
    #: the `triggers:` section (`stepline.triggers`), not part of the digest
    triggers: Triggers | None = None

    def __post_init__(self) -> None:
        if self.recorded_config is None:
            object.__setattr__(self, "recorded_config", self.config)

    @property
    def root(self) -> Path:
        """The directory component paths are relative to."""
        return self.path.parent

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the resolved pipeline, environment values kept as text."""
        return {
            "name": self.name,
            "project": self.project,
            "config": self.recorded_config,
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
    return parse_pipeline(load_yaml(file), overrides)


@dataclass(frozen=True)
class _Where:
    """`file:line:column: key.path` for the keys of a pipeline document (see `formats.yaml`)."""

    doc: YamlDoc
    #: step name → its key path: ("steps", name), or ("steps", i) in the list form
    steps: Mapping[str, KeyPath] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.doc.path

    def __call__(self, *keys: str | int) -> str:
        return self.doc.where(*keys)

    def step(self, step: str, *keys: str | int) -> str:
        return self.doc.where(*self.steps.get(step, ("steps", step)), *keys)


def parse_pipeline(doc: YamlDoc, overrides: Iterable[str] = ()) -> PipelineSpec:
    """Validate a parsed pipeline document (`formats.yaml.load_yaml`); see `load_pipeline`."""
    require("omegaconf", "pipeline")
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    raw, file = doc.data, doc.path
    if not isinstance(raw, dict):
        raise SpecError(
            f"{doc.where()}: a pipeline file is a mapping with keys {', '.join(PIPELINE_KEYS)}"
        )
    unknown = [k for k in raw if k not in PIPELINE_KEYS]
    if unknown:
        raise SpecError(
            f"{doc.where(str(unknown[0]))}: unknown key; a pipeline has {', '.join(PIPELINE_KEYS)}"
        )
    name = raw.get("name") or file.parent.name
    project = raw.get("project")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise SpecError(f"{doc.where('config')}: must be a mapping, not {type(config).__name__}")
    at = _Where(doc, _step_paths(raw.get("steps")))
    steps_raw = _steps_mapping(raw.get("steps"), at)
    for step, body in steps_raw.items():
        unknown = [k for k in body if k not in STEP_KEYS]
        if unknown:
            raise SpecError(
                f"{at.step(step, str(unknown[0]))}: unknown key; a step has {', '.join(STEP_KEYS)}"
            )
        if "component" not in body:
            raise SpecError(f"{at.step(step)}: missing 'component' (a path or git URI)")

    cfg = OmegaConf.create(config)
    override_list = tuple(overrides)
    apply_overrides(cfg, override_list, file)
    try:
        resolved_config = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise SpecError(f"{_config_where(at, exc)}: {_omega_msg(exc)}") from exc
    assert isinstance(resolved_config, dict)
    config_out: dict[str, Any] = {str(k): v for k, v in resolved_config.items()}
    raw_config = OmegaConf.to_container(cfg, resolve=False)

    root = OmegaConf.create({**config_out, _PARAMS_ROOT: steps_raw})
    steps: dict[str, StepSpec] = {}
    for step, body in steps_raw.items():
        built = _build_step(step, body, root, at)
        if project is not None:  # `<this project>/name:alias` is the same as `name:alias`
            inputs = tuple(
                replace(r, project=None) if r.project == str(project) else r for r in built.inputs
            )
            built = replace(built, inputs=inputs)
        steps[step] = built

    recorded_config = config_out
    masked_config, masked_steps = _mask_env(raw_config), _mask_env(steps_raw)
    if masked_config != raw_config or masked_steps != steps_raw:
        recorded_config, steps = _recorded(masked_config, masked_steps, steps, at)

    _check_outputs(steps, at)
    from stepline.pipeline.dag import build_dag

    build_dag(steps)  # unknown `after:` targets and cycles
    triggers = None
    if raw.get("triggers") is not None:
        from stepline.triggers.spec import parse_triggers

        triggers = parse_triggers(raw["triggers"], file, steps)
    return PipelineSpec(
        name=str(name),
        project=str(project) if project is not None else None,
        path=file,
        config=config_out,
        steps=steps,
        overrides=override_list,
        recorded_config=recorded_config,
        triggers=triggers,
    )


_ENV_OPEN = "${oc.env:"


def _mask_env(value: Any) -> Any:
    """`value` with each `${oc.env:` escaped (`\\${oc.env:`), so resolving keeps it as text."""
    if isinstance(value, dict):
        return {k: _mask_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_env(v) for v in value]
    if not isinstance(value, str) or _ENV_OPEN not in value:
        return value
    parts = value.split(_ENV_OPEN)
    out = parts[0]
    for part in parts[1:]:
        out += (_ENV_OPEN if out.endswith("\\") else "\\" + _ENV_OPEN) + part
    return out


def _recorded(
    masked_config: Any, masked_steps: Any, steps: dict[str, StepSpec], at: _Where
) -> tuple[dict[str, Any], dict[str, StepSpec]]:
    """The config and each step's parameters as recorded: `${oc.env:...}` left as its text."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        resolved = OmegaConf.to_container(OmegaConf.create(masked_config), resolve=True)
    except OmegaConfBaseException as exc:
        raise SpecError(f"{_config_where(at, exc)}: {_omega_msg(exc)}") from exc
    assert isinstance(resolved, dict)
    root = OmegaConf.create({**masked_config, _PARAMS_ROOT: masked_steps})
    out: dict[str, StepSpec] = {}
    for name, step in steps.items():
        recorded = {
            key: _as_param(_resolve(root, name, ("parameters", key), at), name, key, at)
            for key in step.parameters
        }
        differs = {k: v for k, v in recorded.items() if v != step.parameters[k]}
        out[name] = replace(step, recorded=differs) if differs else step
    return {str(k): v for k, v in resolved.items()}, out


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


def _step_paths(steps: Any) -> dict[str, KeyPath]:
    """Step name → its key path in the document (a mapping, or the list form with `name:`)."""
    if isinstance(steps, dict):
        return {str(name): ("steps", name) for name in steps}
    if isinstance(steps, list):
        return {
            str(body["name"]): ("steps", i)
            for i, body in enumerate(steps)
            if isinstance(body, dict) and "name" in body
        }
    return {}


def _steps_mapping(steps: Any, at: _Where) -> dict[str, dict[str, Any]]:
    if steps is None:
        raise SpecError(f"{at()}: no 'steps:'; a pipeline needs at least one step")
    out: dict[str, dict[str, Any]] = {}
    if isinstance(steps, list):  # also accept a list of {name: ..., component: ...}
        for i, body in enumerate(steps):
            if not isinstance(body, dict) or "name" not in body:
                raise SpecError(f"{at('steps', i)}: a listed step needs a 'name'")
            body = dict(body)
            out[str(body.pop("name"))] = body
    elif isinstance(steps, dict):
        for name, body in steps.items():
            if not isinstance(body, dict):
                raise SpecError(f"{at('steps', name)}: expected a mapping with 'component'")
            out[str(name)] = dict(body)
    else:
        raise SpecError(f"{at('steps')}: must be a mapping of step name to step")
    for name in out:
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise SpecError(
                f"{at.step(name)}: step name {name!r}: use letters, digits, '_' and '-'"
            )
    if not out:
        raise SpecError(f"{at('steps')}: no steps; a pipeline needs at least one step")
    return out


def _omega_msg(exc: Exception) -> str:
    return str(exc).splitlines()[0]


def _config_where(at: _Where, exc: Exception) -> str:
    """Where in `config:` an OmegaConf error is, from its `full_key` (`etl.min_price`)."""
    key = str(getattr(exc, "full_key", "") or "")
    parts: list[str | int] = [int(k) if k.isdigit() else k for k in key.split(".") if k]
    return at("config", *parts)


def _resolve(root: Any, step: str, key: tuple[str, ...], at: _Where) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        value = OmegaConf.select(root, ".".join((_PARAMS_ROOT, step, *key)), throw_on_missing=True)
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
    except OmegaConfBaseException as exc:
        raise SpecError(f"{at.step(step, *key)}: {_omega_msg(exc)}") from exc
    return value


def _as_param(value: Any, step: str, key: str, at: _Where) -> str:
    if value is None:
        raise SpecError(f"{at.step(step, 'parameters', key)}: is null; give it a value")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _str_list(value: Any, step: str, key: str, at: _Where) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise SpecError(f"{at.step(step, key)}: must be a list of names")
    return [str(v) for v in value]


class _Resolved:
    """A step body's values with interpolations resolved: all at once (one OmegaConf pass, the
    common case), else key by key, so an error names the key it is in."""

    def __init__(self, root: Any, step: str, at: _Where) -> None:
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        self.root, self.step, self.at = root, step, at
        whole: Any
        try:
            whole = OmegaConf.to_container(
                root[_PARAMS_ROOT][step], resolve=True, throw_on_missing=True
            )
        except OmegaConfBaseException:
            whole = None  # a bad interpolation somewhere: find it key by key
        self.whole: dict[Any, Any] | None = whole if isinstance(whole, dict) else None

    def __call__(self, *key: str) -> Any:
        if self.whole is None:
            return _resolve(self.root, self.step, key, self.at)
        value: Any = self.whole
        for part in key:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value


def _build_step(step: str, body: dict[str, Any], root: Any, at: _Where) -> StepSpec:
    resolved = _Resolved(root, step, at)
    component = str(resolved("component"))
    if not is_remote_uri(component):
        component = str((at.file.parent / component).resolve())
    entry_point = str(resolved("entry_point") or "main")
    params_raw = body.get("parameters") or {}
    if not isinstance(params_raw, dict):
        raise SpecError(f"{at.step(step, 'parameters')}: must be a mapping")
    parameters = {
        str(k): _as_param(resolved("parameters", str(k)), step, str(k), at) for k in params_raw
    }
    inputs: list[ArtifactRef] = []
    raw_inputs = _str_list(resolved("inputs"), step, "inputs", at)
    for i, text in enumerate(raw_inputs):
        try:
            inputs.append(parse_ref(text))
        except InvalidReference as exc:
            raise SpecError(f"{at.step(step, 'inputs', i)}: {exc}") from exc
    outputs = _str_list(resolved("outputs"), step, "outputs", at)
    for i, out in enumerate(outputs):
        if ":" in out or "/" in out:
            raise SpecError(
                f"{at.step(step, 'outputs', i)}: output {out!r}: "
                "name the artifact only, e.g. clean_sample.csv"
            )
    after = _str_list(body.get("after"), step, "after", at)
    version = resolved("version")
    env_manager = resolved("env_manager")
    resources = parse_resources(resolved("resources"), at.step(step))
    retries = parse_retries(resolved("retries"), at.step(step))
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
        resources=resources,
        retries=retries,
    )
    if spec.is_local:
        _check_component(spec, body.get("component"), at)
    return spec


def _check_component(step: StepSpec, written: Any, at: _Where) -> None:
    """Check a local component exists and declares the entry point and parameters used.

    The component is read by `components.mlproject.load_project`, the parser `stepline run`
    executes it with, so a component validates exactly when it can run.
    """
    path = Path(step.component)
    if not path.is_dir():
        raise SpecError(
            f"{at.step(step.name, 'component')}: {written!r}: no directory {path} "
            "(a component is a directory with an MLproject, or a git URI)"
        )
    project = remembered("project", str(path.resolve()), lambda: load_project(path))
    try:
        entry = project.entry_point(step.entry_point)
    except UnknownEntryPoint as exc:
        key = "entry_point" if project.file is not None else "component"
        raise SpecError(f"{at.step(step.name, key)}: {exc}") from exc
    if step.entry_point not in project.entry_points:
        return  # a .py/.sh file in the component, run directly: no declared parameters
    declared = entry.parameters
    for key in step.parameters:
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise SpecError(
                f"{at.step(step.name, 'parameters', key)}: entry point {step.entry_point!r} "
                f"of {written!r} has no such parameter (declared: {known})"
            )
    for key, param in declared.items():
        if key not in step.parameters and param.required:
            raise SpecError(
                f"{at.step(step.name, 'parameters', key)}: required by {written!r} "
                f"(entry point {step.entry_point!r}) and has no default"
            )


def _check_outputs(steps: Mapping[str, StepSpec], at: _Where) -> None:
    producer: dict[str, str] = {}
    for step in steps.values():
        for i, out in enumerate(step.outputs):
            if out in producer:
                raise SpecError(
                    f"{at.step(step.name, 'outputs', i)}: output {out!r} is also produced by step "
                    f"{producer[out]!r}; each artifact has one producing step"
                )
            producer[out] = step.name
