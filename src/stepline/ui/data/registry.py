"""The model registry: registered models, their versions and aliases, and promoting a version."""

from __future__ import annotations

from typing import Any

from stepline import registry
from stepline.errors import VersionNotFound


def models(meta: Any) -> dict[str, Any]:
    """Every registered model with its newest version and aliases."""
    out = []
    for m in registry.list_models(backend=meta):
        out.append(
            {
                "name": m.name,
                "description": m.description,
                "versions": len(m.versions),
                "latest": f"v{m.versions[-1].version}" if m.versions else None,
                "aliases": {a: f"v{v.version}" for v in m.versions for a in v.aliases},
                "created_at": m.created_at,
            }
        )
    return {"models": out}


def model(meta: Any, name: str) -> dict[str, Any]:
    """One registered model's versions (newest first), each with the artifact version it links."""
    m = registry.show(name, backend=meta)
    return {
        "name": m.name,
        "description": m.description,
        "tags": m.tags,
        "versions": [
            {
                "version": f"v{v.version}",
                "number": v.version,
                "artifact": v.artifact_ref,
                "aliases": v.aliases,
                "description": v.description,
                "created_at": v.created_at,
            }
            for v in reversed(m.versions)
        ],
    }


def promote(meta: Any, name: str, version: int, alias: str) -> dict[str, Any]:
    """Point `alias` (for example `prod`) at version `version` of model `name`."""
    m = registry.show(name, backend=meta)
    if not any(v.version == version for v in m.versions):
        have = ", ".join(f"v{v.version}" for v in m.versions) or "(none)"
        raise VersionNotFound(
            f"registered model {name!r} has no version v{version}; versions: {have}"
        )
    registry.set_alias(name, version, alias, backend=meta)
    return model(meta, name)
