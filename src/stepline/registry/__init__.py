"""The model registry: registered models whose versions (v1, v2, …) link artifact versions.

>>> stepline.registry.register("random_forest_export:v3", "rental_prices", aliases=["prod"])
>>> stepline.registry.resolve("rental_prices@prod")   # -> the artifact version
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from stepline.backends import get_backend
from stepline.backends.base import Backend, VersionRecord
from stepline.errors import InvalidReference, UsageError
from stepline.metadata.registry import ModelVersion, RegisteredModel
from stepline.tracking import naming

_REF = re.compile(
    r"^(?:model-registry/)?(?P<name>[A-Za-z0-9_\-.]+)(?:(?:@(?P<alias>[^/:@]+))|(?::v?(?P<version>\d+)))?$"
)

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


def _b(backend: Backend | None) -> Any:
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
    from stepline.tracking.artifact import resolve as resolve_artifact

    b = _b(backend)
    naming.check_name(name, "registered model name")
    record = resolve_artifact(b, artifact_ref, None)
    number = b.register_version(name, record.id, description, tags)
    for alias in aliases:
        b.set_model_alias(name, number, naming.check_alias(alias))
    return next(v for v in b.get_model(name).versions if v.version == number)


def link(backend: Backend, artifact: Any, target: str, aliases: Sequence[str] = ()) -> ModelVersion:
    """W&B-style `run.link_artifact(art, "model-registry/NAME")`."""
    name = target.split("/")[-1]
    return register(artifact.qualified_name, name, aliases, backend=backend)


def set_alias(name: str, version: int, alias: str, backend: Backend | None = None) -> None:
    _b(backend).set_model_alias(name, version, naming.check_alias(alias))


def show(name: str, backend: Backend | None = None) -> RegisteredModel:
    return _b(backend).get_model(name)  # type: ignore[no-any-return]


def list_models(backend: Backend | None = None) -> list[RegisteredModel]:
    return _b(backend).list_models()  # type: ignore[no-any-return]


def resolve(ref: str, backend: Backend | None = None) -> VersionRecord:
    """The artifact version behind `NAME@alias`, `NAME:vK`, `NAME:K` or `NAME` (its newest)."""
    m = _REF.match(ref.strip())
    if not m:
        raise InvalidReference(
            f"registry reference {ref!r} is malformed; write NAME@alias or NAME:v2"
        )
    b = _b(backend)
    model = b.get_model(m["name"])
    if not model.versions:
        raise UsageError(f"registered model {m['name']!r} has no versions")
    if m["alias"]:
        hits = [v for v in model.versions if m["alias"] in v.aliases]
        if not hits:
            have = ", ".join(f"{a} (v{v.version})" for v in model.versions for a in v.aliases)
            from stepline.errors import VersionNotFound

            raise VersionNotFound(
                f"registered model {m['name']!r} has no alias {m['alias']!r}; aliases: {have or '(none)'}"
            )
        chosen = hits[0]
    elif m["version"]:
        wanted = int(m["version"])
        chosen = next((v for v in model.versions if v.version == wanted), None)  # type: ignore[assignment]
        if chosen is None:
            from stepline.errors import VersionNotFound

            raise VersionNotFound(
                f"registered model {m['name']!r} has no version v{wanted};"
                f" versions: v1 to v{model.versions[-1].version}"
            )
    else:
        chosen = model.versions[-1]
    from stepline.tracking.artifact import resolve as resolve_artifact

    return resolve_artifact(b, chosen.artifact_ref, None)
