"""Turning a model reference into a local package directory.

A reference is one of:

- a path to a package directory (or to its `MLmodel` file);
- a registry reference, `NAME@alias`, `models:/NAME@alias` or `models:/NAME/3`: resolved by
  `stepline.registry.resolve` to the artifact version it links (or by the function installed
  with `set_registry_resolver`, e.g. for a remote registry), then downloaded as below;
- an artifact reference, `[project/]name[:alias|vN]`, downloaded through the tracking API
  (`run.use_artifact(ref)` when a run is given, so lineage records it; otherwise
  `stepline.Api().artifact(ref)`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stepline.errors import ModelError
from stepline.models.package import MLMODEL

# (name, "alias" or "vN" or "N") -> local directory holding the package
RegistryResolver = Callable[[str, str], "str | Path"]

_registry_resolver: RegistryResolver | None = None

_REGISTRY_RE = re.compile(
    r"^(?:models:/)?(?P<name>[^@/:\s]+)(?:@(?P<alias>[^@/\s]+)|/(?P<ver>\d+))$"
)
_ARTIFACT_RE = re.compile(r"^(?:[\w.\-]+/)?[\w.\-]+(?::[\w.\-]+)?$")


def set_registry_resolver(resolver: RegistryResolver | None) -> None:
    """Install the function that turns `NAME@alias` / `models:/NAME/N` into a package dir."""
    global _registry_resolver
    _registry_resolver = resolver


def parse_registry_reference(ref: str) -> tuple[str, str] | None:
    """`"rf@prod"` → `("rf", "prod")`; `"models:/rf/3"` → `("rf", "3")`; else None."""
    if "@" not in ref and not ref.startswith("models:/"):
        return None
    match = _REGISTRY_RE.match(ref)
    if not match:
        raise ModelError(
            f"malformed registry reference {ref!r}; expected NAME@alias, models:/NAME@alias "
            "or models:/NAME/VERSION"
        )
    return match["name"], match["alias"] or match["ver"]


def find_package(root: Path) -> Path:
    """`root` if it holds an MLmodel, else its single sub-directory (two levels at most) that
    does, as when an artifact was logged with `add_dir(export, name="model")`."""
    if (root / MLMODEL).is_file():
        return root
    found = sorted(
        p.parent
        for pattern in (f"*/{MLMODEL}", f"*/*/{MLMODEL}")
        for p in root.glob(pattern)
        if p.is_file()
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise ModelError(
            f"{root} holds no model package (no {MLMODEL} file in it or in its sub-directories)"
        )
    names = [str(p.relative_to(root)) for p in found[:5]]
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    raise ModelError(
        f"{root} holds several model packages: {names}{more}; name the one you want by its path"
    )


def _download_artifact(ref: str, run: Any) -> Path:
    if run is not None:
        return Path(run.use_artifact(ref).download())
    import stepline

    api_factory = getattr(stepline, "Api", None)
    if api_factory is None:
        raise ModelError(
            f"cannot resolve artifact reference {ref!r}: this stepline has no tracking API"
        )
    return Path(api_factory().artifact(ref).download())


def _registry_artifact(name: str, selector: str) -> str:
    """The artifact version (`project/name:vN`) a registered model version links."""
    try:
        from stepline import registry
    except ImportError as exc:
        raise ModelError(
            f"{name}@{selector} is a registry reference, but this stepline has no model "
            "registry; use a path or an artifact reference such as random_forest_export:prod"
        ) from exc
    ref = f"{name}:v{selector}" if selector.isdigit() else f"{name}@{selector}"
    return str(registry.resolve(ref).ref)


def resolve_model_dir(ref: str | Path, run: Any = None) -> Path:
    """Return the local package directory for a path, artifact or registry reference."""
    path = Path(ref)
    if path.exists():
        if path.is_file() and path.name == MLMODEL:
            return path.parent
        if path.is_dir():
            return find_package(path)
        raise ModelError(f"{path} is a file; a model package is a directory with an {MLMODEL}")
    text = str(ref)
    registry = parse_registry_reference(text)
    if registry is not None:
        if _registry_resolver is not None:
            return find_package(Path(_registry_resolver(*registry)))
        return find_package(_download_artifact(_registry_artifact(*registry), run))
    if not _ARTIFACT_RE.match(text):
        raise ModelError(
            f"{text!r} is neither an existing path nor a reference; expected a package "
            "directory, [project/]artifact[:alias|vN] or NAME@alias"
        )
    return find_package(_download_artifact(text, run))
