"""The reference grammar: artifact versions and registered-model versions. Pure.

Artifacts (`parse_ref`)::

    name                      name:latest
    name:alias  name:v3       an alias, or a version number
    project/name:alias        another project's artifact
    entity/project/name:v3    as W&B writes them (the entity is ignored)

Registered models (`parse_model_ref`)::

    NAME                      the newest version
    NAME@alias                models:/NAME@alias    model-registry/NAME@alias
    NAME:v3   NAME:3          models:/NAME/3

Names, projects and aliases use letters, digits, `_`, `-` and `.` (as `tracking.naming` allows).
A string that fits none of these raises `InvalidReference` naming it and the valid forms.

    parse_ref("clean_sample.csv:reference")   # ArtifactRef(None, "clean_sample.csv", "reference")
    parse_model_ref("models:/rf/3").version   # 3
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stepline.errors import InvalidReference

ARTIFACT_FORMS = "name, name:alias, name:v3 or project/name:alias"
MODEL_FORMS = "NAME, NAME@alias, NAME:v3, models:/NAME@alias or models:/NAME/3"

_WORD = r"[A-Za-z0-9_.\-]+"
_ARTIFACT = re.compile(
    rf"(?:(?:{_WORD}/)?(?P<project>{_WORD})/)?(?P<name>{_WORD})(?::(?P<sel>{_WORD}))?"
)
_MODEL = re.compile(
    rf"(?:models:/|model-registry/)?(?P<name>{_WORD}?)"
    rf"(?:@(?P<alias>{_WORD})|(?::v?|/)(?P<version>\d+))?"
)
_VERSION = re.compile(r"v(\d+)")


@dataclass(frozen=True)
class ArtifactRef:
    """A parsed reference: an artifact version (`kind="artifact"`) or a registered model's."""

    project: str | None
    name: str
    selector: str  # an alias or vN ("latest" when none was written)
    kind: Literal["artifact", "model"] = "artifact"

    @property
    def version(self) -> int | None:
        """The N of a `vN` selector, else None."""
        m = _VERSION.fullmatch(self.selector)
        return int(m[1]) if m else None

    @property
    def alias(self) -> str:
        """The selector (an alias, or `vN`)."""
        return self.selector

    @property
    def follows_latest(self) -> bool:
        """True when the reference means "the newest version" (so it links to a producer step)."""
        return self.selector == "latest"

    @property
    def base(self) -> str:
        """`project/name` (or `name`): the artifact, without the selector."""
        return f"{self.project}/{self.name}" if self.project else self.name

    def qualified(self, default_project: str | None) -> str:
        """`project/name:selector`, with `default_project` filled in when the reference has none."""
        project = self.project or default_project
        base = f"{project}/{self.name}" if project else self.name
        return f"{base}:{self.selector}"

    def __str__(self) -> str:
        if self.kind == "model":
            return (
                f"{self.name}:{self.selector}" if self.version else f"{self.name}@{self.selector}"
            )
        head = f"{self.project}/" if self.project else ""
        return f"{head}{self.name}:{self.selector}"


def _checked(ref: object, what: str, forms: str) -> str:
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidReference(f"{what} must be a non-empty string; write {forms}")
    bad = next((ch for ch in ref if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0), None)
    if bad is not None:
        raise InvalidReference(
            f"{what} {ref!r} contains the control character {bad!r}; write {forms}"
        )
    return ref.strip()


def parse_ref(ref: str, default_selector: str = "latest") -> ArtifactRef:
    """Parse an artifact reference (see the module docstring); no selector means `default_selector`."""
    text = _checked(ref, "artifact reference", ARTIFACT_FORMS)
    m = _ARTIFACT.fullmatch(text)
    if not m:
        raise InvalidReference(f"artifact reference {ref!r} is malformed; write {ARTIFACT_FORMS}")
    return ArtifactRef(m["project"], m["name"], m["sel"] or default_selector)


def parse_model_ref(ref: str) -> ArtifactRef:
    """Parse a registered-model reference; the selector is an alias, `vN`, or `latest` (newest)."""
    text = _checked(ref, "registry reference", MODEL_FORMS)
    m = _MODEL.fullmatch(text)
    if not m or not m["name"]:
        raise InvalidReference(f"registry reference {ref!r} is malformed; write {MODEL_FORMS}")
    selector = m["alias"] or (f"v{int(m['version'])}" if m["version"] else "latest")
    return ArtifactRef(None, m["name"], selector, kind="model")


def is_model_ref(ref: str) -> bool:
    """True when `ref` is written in a registry form (`@`, `models:/`, `model-registry/`)."""
    return "@" in ref or ref.startswith(("models:/", "model-registry/"))


def parse_any(ref: str) -> ArtifactRef:
    """A registry reference when written in a registry form, else an artifact reference."""
    return parse_model_ref(ref) if is_model_ref(ref) else parse_ref(ref)


def find_ref(text: str) -> ArtifactRef | None:
    """The artifact reference `text` is, when written with a selector (`name:alias`), else None.

    For free-form values (a step's parameters) that may or may not name an artifact.
    """
    if ":" not in text:
        return None
    try:
        return parse_ref(text)
    except InvalidReference:
        return None
