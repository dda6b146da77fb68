"""Turning a model reference into a local package directory.

A reference is one of:

- a path to a package directory (or to its `MLmodel` file);
- a registry reference, `NAME@alias`, `models:/NAME@alias` or `models:/NAME/3`: resolved by
  `stepline.registry.resolve` to the artifact version it links (or by the function installed
  with `set_registry_resolver`, e.g. for a remote registry), then downloaded as below;
- an artifact reference, `[project/]name[:alias|vN]`, downloaded through the tracking API
  (`run.use_artifact(ref)` when a run is given, so lineage records it; otherwise
  `Api(backend).artifact(ref)` on the backend given, else this process's store).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepline.errors import InvalidReference, ModelError
from stepline.formats.refs import is_model_ref, parse_model_ref, parse_ref
from stepline.models.package import MLMODEL

if TYPE_CHECKING:
    from stepline.backends.base import Backend

# (name, "alias" or "vN" or "N") -> local directory holding the package
RegistryResolver = Callable[[str, str], "str | Path"]

_registry_resolver: RegistryResolver | None = None


def set_registry_resolver(resolver: RegistryResolver | None) -> None:
    """Install the function that turns `NAME@alias` / `models:/NAME/N` into a package dir."""
    global _registry_resolver
    _registry_resolver = resolver


def parse_registry_reference(ref: str) -> tuple[str, str] | None:
    """`"rf@prod"` → `("rf", "prod")`; `"models:/rf/3"` → `("rf", "3")`; else None.

    Raises `InvalidReference` for a registry form that does not parse (`formats.refs`).
    """
    if not is_model_ref(ref):
        return None
    parsed = parse_model_ref(ref)
    return parsed.name, str(parsed.version) if parsed.version is not None else parsed.alias


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


def _download_artifact(ref: str, run: Any, backend: Backend | None) -> Path:
    if run is not None:
        return Path(run.use_artifact(ref).download())
    from stepline.tracking.api import Api

    return Path(Api(backend).artifact(ref).download())


def _registry_artifact(name: str, selector: str, backend: Backend | None) -> str:
    """The artifact version (`project/name:vN`) a registered model version links."""
    from stepline import registry

    ref = f"{name}:v{selector}" if selector.isdigit() else f"{name}@{selector}"
    return str(registry.resolve(ref, backend=backend).ref)


def resolve_model_dir(ref: str | Path, run: Any = None, backend: Backend | None = None) -> Path:
    """Return the local package directory for a path, artifact or registry reference.

    References are looked up on `backend` (default: this process's store), or through `run`.
    """
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
        return find_package(
            _download_artifact(_registry_artifact(*registry, backend), run, backend)
        )
    try:
        parse_ref(text)
    except InvalidReference as exc:
        raise ModelError(
            f"{text!r} is neither an existing path nor a reference; expected a package "
            "directory, [project/]artifact[:alias|vN] or NAME@alias"
        ) from exc
    return find_package(_download_artifact(text, run, backend))
