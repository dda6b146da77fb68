"""Env specs: python_env.yaml, requirements.txt, pyproject.toml and conda.yml → one `EnvSpec`.

An `EnvSpec` is what to install, in order: a requested Python version and one or more layers
of pip-syntax requirement lines. Each layer is installed over the previous one, the way conda
installs its own dependencies and then runs pip on the `pip:` section::

    spec = load_spec(Path("components/get_data/conda.yml"))
    spec.python            # "3.13.0"
    spec.layers            # (("requests==2.31.0.*",), ("mlflow==3.3.2", "-e /abs/components"))
    spec.wants_wandb       # True: `wandb` is replaced by stepline's drop-in module

Relative paths (`-e ..`, `./pkg`) are resolved against the spec's own folder; `git+` URLs are
rewritten by the user's URL rewrites (`envs/urls.py`) and otherwise left for uv to fetch.
`spec.notes` says what was changed or skipped, for the build log. Nothing here runs a process.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stepline.envs.conda import translate_conda
from stepline.envs.urls import rewrite_requirement
from stepline.errors import SpecError
from stepline.formats.yaml import YamlDoc, load_yaml

SpecKind = Literal["python_env", "requirements", "pyproject", "conda", "local"]
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
SPEC_FILES = ("python_env.yaml", "conda.yaml", "conda.yml", "requirements.txt", "pyproject.toml")
REPLACED = {"wandb": "wandb", "stepline": "stepline"}


@dataclass(frozen=True)
class EnvSpec:
    """What an environment must contain (see the module docstring)."""

    kind: SpecKind
    source: Path | None = None
    python: str | None = None
    layers: tuple[tuple[str, ...], ...] = ()
    wants_wandb: bool = False
    conda_text: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def base_dir(self) -> Path | None:
        """The folder the spec's relative paths are resolved against."""
        return self.source.parent if self.source else None


def requirement_name(line: str) -> str | None:
    """The normalized project name of a requirement line, or None for options and paths."""
    stripped = line.strip()
    if not stripped or stripped.startswith(("-", "#", ".", "/", "~")) or "://" in stripped:
        return None
    match = _NAME.match(stripped)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def absolutize(line: str, base: Path) -> str:
    """Resolve `-e ..`, `./pkg`, `file:` paths in a requirement line against `base`."""
    stripped = line.strip()
    for prefix in ("-e ", "--editable ", "--editable=", "-r ", "--requirement ", "-c "):
        if stripped.startswith(prefix):
            target = stripped[len(prefix) :].strip()
            if "://" in target or target.startswith("git+"):
                return stripped
            return f"{prefix.strip().rstrip('=')} {(base / target).resolve()}"
    if stripped.startswith((".", "/", "~")) or stripped in (".", ".."):
        return str((base / Path(stripped).expanduser()).resolve())
    return stripped


def _filter(
    lines: list[str], where: list[str], real_wandb: bool = False
) -> tuple[list[str], bool, list[str]]:
    """Drop `wandb`/`stepline` requirements (stepline provides them); rewrite git URLs.

    Returns (kept lines, whether wandb was asked for, notes for the build log)."""
    kept: list[str] = []
    notes: list[str] = []
    wants = False
    for line, loc in zip(lines, where, strict=True):
        if "git+" in line:
            new, rule = rewrite_requirement(line)
            if rule is not None:
                notes.append(f"{loc}: '{line}' read from {new} (URL rewrite from {rule.origin})")
                line = new
        name = requirement_name(line)
        if name in REPLACED and not (real_wandb and name == "wandb"):
            wants = wants or name == "wandb"
            continue
        kept.append(line)
    return kept, wants, notes


def read_requirements(path: Path, seen: frozenset[Path] = frozenset()) -> list[tuple[str, str]]:
    """Lines of a requirements file as (line, 'file:lineno'), `-r` includes expanded."""
    path = path.resolve()
    if path in seen:
        raise SpecError(f"{path}: includes itself through -r")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read requirements: {exc.strerror}") from exc
    out: list[tuple[str, str]] = []
    joined = text.replace("\\\n", "")
    for i, raw in enumerate(joined.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            target = path.parent / line.split(None, 1)[1]
            out.extend(read_requirements(target, seen | {path}))
            continue
        out.append((absolutize(line, path.parent), f"{path}:{i}"))
    return out


def parse_requirements(path: Path, real_wandb: bool = False) -> EnvSpec:
    """A requirements.txt: one layer, the current Python."""
    items = read_requirements(path)
    kept, wants, notes = _filter([i[0] for i in items], [i[1] for i in items], real_wandb)
    return EnvSpec(
        kind="requirements",
        source=path.resolve(),
        layers=(tuple(kept),),
        wants_wandb=wants,
        notes=tuple(notes),
    )


def parse_python_env(path: Path, real_wandb: bool = False) -> EnvSpec:
    """MLflow's python_env.yaml: `python`, `build_dependencies`, `dependencies` (`-r` allowed)."""
    doc = load_yaml(path)
    data = doc.data or {}
    if not isinstance(data, dict):
        raise SpecError(f"{doc.where()}: python_env.yaml must be a mapping (python, dependencies)")
    for key in data:
        if key not in ("python", "build_dependencies", "dependencies"):
            raise SpecError(
                f"{doc.where(str(key))}: unknown key; "
                "valid: python, build_dependencies, dependencies"
            )
    python = data.get("python")
    lines: list[str] = []
    where: list[str] = []
    for key in ("build_dependencies", "dependencies"):
        deps = data.get(key) or []
        if not isinstance(deps, list):
            raise SpecError(f"{doc.where(key)}: {key} must be a list of requirements")
        for i, dep in enumerate(deps):
            dep = str(dep).strip()
            if key == "build_dependencies" and requirement_name(dep) == "pip":
                continue
            if dep.startswith(("-r ", "--requirement ")):
                for line, loc in read_requirements(path.parent / dep.split(None, 1)[1]):
                    lines.append(line)
                    where.append(loc)
                continue
            lines.append(absolutize(dep, path.parent.resolve()))
            where.append(f"{path}:{doc.line(key, i)}")
    kept, wants, notes = _filter(lines, where, real_wandb)
    return EnvSpec(
        kind="python_env",
        source=path.resolve(),
        python=str(python) if python is not None else None,
        layers=(tuple(kept),),
        wants_wandb=wants,
        notes=tuple(notes),
    )


def parse_pyproject(path: Path, real_wandb: bool = False) -> EnvSpec:
    """A pyproject.toml: its `[project] dependencies` (the project itself is not installed)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: not a readable pyproject.toml: {exc}") from exc
    deps = data.get("project", {}).get("dependencies", [])
    if not isinstance(deps, list):
        raise SpecError(f"{path}: [project] dependencies must be a list")
    where = [f"{path} ([project] dependencies)"] * len(deps)
    kept, wants, notes = _filter([str(d) for d in deps], where, real_wandb)
    return EnvSpec(
        kind="pyproject",
        source=path.resolve(),
        layers=(tuple(kept),),
        wants_wandb=wants,
        notes=tuple(notes),
    )


def parse_conda(path: Path, real_wandb: bool = False) -> EnvSpec:
    """A conda.yml translated to uv layers (conda deps first, then its pip section)."""
    doc: YamlDoc = load_yaml(path)
    translated = translate_conda(doc)
    layers: list[tuple[str, ...]] = []
    wants = False
    notes = list(translated.notes)
    for layer in (translated.conda, translated.pip):
        kept, w, n = _filter([line for line, _ in layer], [loc for _, loc in layer], real_wandb)
        wants = wants or w
        notes += n
        if kept:
            layers.append(tuple(kept))
    return EnvSpec(
        kind="conda",
        source=path.resolve(),
        python=translated.python,
        layers=tuple(layers),
        wants_wandb=wants,
        conda_text=path.read_text(encoding="utf-8"),
        notes=tuple(notes),
    )


def load_spec(path: str | Path, real_wandb: bool = False) -> EnvSpec:
    """Parse an env spec file, or a directory holding one (python_env.yaml, conda.y[a]ml,
    requirements.txt, pyproject.toml, in that order). `real_wandb` keeps a `wandb` requirement
    instead of replacing it with stepline's drop-in module."""
    p = Path(path)
    if p.is_dir():
        for name in SPEC_FILES:
            if (p / name).is_file():
                return load_spec(p / name, real_wandb)
        raise SpecError(
            f"{p}: no env spec found; expected python_env.yaml, conda.yaml, conda.yml, "
            "requirements.txt or pyproject.toml"
        )
    if not p.is_file():
        raise SpecError(f"{p}: env spec not found")
    name = p.name.lower()
    if name.endswith((".yml", ".yaml")) and "python_env" not in name:
        return parse_conda(p, real_wandb)
    if name.endswith((".yml", ".yaml")):
        return parse_python_env(p, real_wandb)
    if name == "pyproject.toml":
        return parse_pyproject(p, real_wandb)
    if name.endswith(".txt") or name.endswith(".in"):
        return parse_requirements(p, real_wandb)
    raise SpecError(
        f"{p}: unknown env spec; expected python_env.yaml, conda.yml, requirements.txt "
        "or pyproject.toml"
    )
