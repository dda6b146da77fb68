"""The model registry: registered models whose versions (v1, v2, …) link artifact versions.

>>> stepline.registry.register("random_forest_export:v3", "rental_prices", aliases=["prod"])
>>> stepline.registry.resolve("rental_prices@prod")   # -> the artifact version
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepline.backends import get_backend
from stepline.backends.base import Backend, ModelVersion, RegisteredModel, VersionRecord
from stepline.errors import UsageError, VersionNotFound
from stepline.formats.refs import parse_model_ref
from stepline.tracking import naming
from stepline.tracking.artifact import register_version
from stepline.tracking.artifact import resolve as resolve_artifact

__all__ = [
    "ModelVersion",
    "RegisteredModel",
    "link",
    "list_models",
    "register",
    "resolve",
    "set_alias",
    "show",
]


def _b(backend: Backend | None) -> Backend:
    return backend or get_backend()


def register(
    artifact_ref: str,
    name: str,
    aliases: Sequence[str] = (),
    description: str | None = None,
    tags: dict[str, Any] | None = None,
    backend: Backend | None = None,
) -> ModelVersion:
    """Register an artifact version (`name:vN` or `name:alias`) as the model's next version."""
    b = _b(backend)
    naming.check_name(name, "registered model name")
    record = resolve_artifact(b, artifact_ref, None)
    number = register_version(b, record, name, aliases, description, tags)
    return next(v for v in b.get_model(name).versions if v.version == number)


def link(backend: Backend, artifact: Any, target: str, aliases: Sequence[str] = ()) -> ModelVersion:
    """W&B-style `run.link_artifact(art, "model-registry/NAME")`."""
    name = target.split("/")[-1]
    return register(artifact.qualified_name, name, aliases, backend=backend)


def set_alias(name: str, version: int, alias: str, backend: Backend | None = None) -> None:
    _b(backend).set_model_alias(name, version, naming.check_alias(alias))


def show(name: str, backend: Backend | None = None) -> RegisteredModel:
    return _b(backend).get_model(name)


def list_models(backend: Backend | None = None) -> list[RegisteredModel]:
    return _b(backend).list_models()


def resolve(ref: str, backend: Backend | None = None) -> VersionRecord:
    """The artifact version behind a registry reference (`formats.refs.parse_model_ref`).

    `NAME@alias`, `NAME:vK`/`NAME:K`, `models:/NAME@alias`, `models:/NAME/K`; `NAME` alone (or
    `@latest`, unless a version carries an alias `latest`) is the newest version.
    """
    parsed = parse_model_ref(ref)
    b = _b(backend)
    model = b.get_model(parsed.name)
    if not model.versions:
        raise UsageError(f"registered model {parsed.name!r} has no versions")
    wanted = parsed.version
    if wanted is not None:
        chosen = next((v for v in model.versions if v.version == wanted), None)
        if chosen is None:
            raise VersionNotFound(
                f"registered model {parsed.name!r} has no version v{wanted};"
                f" versions: v1 to v{model.versions[-1].version}"
            )
    else:
        hits = [v for v in model.versions if parsed.alias in v.aliases]
        if hits:
            chosen = hits[0]
        elif parsed.alias == "latest":
            chosen = model.versions[-1]
        else:
            have = ", ".join(f"{a} (v{v.version})" for v in model.versions for a in v.aliases)
            raise VersionNotFound(
                f"registered model {parsed.name!r} has no alias {parsed.alias!r};"
                f" aliases: {have or '(none)'}"
            )
    return resolve_artifact(b, chosen.artifact_ref, None)
