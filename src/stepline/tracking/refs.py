"""Artifact references: `[project/]name[:alias|vN]`. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stepline.errors import InvalidReference

_REF_RE = re.compile(r"^(?:(?P<project>[^/:]+)/)?(?P<name>[^/:]+)(?::(?P<sel>[^/:]+))?$")


@dataclass(frozen=True)
class ArtifactRef:
    project: str | None
    name: str
    selector: str  # an alias or vN

    @property
    def version(self) -> int | None:
        """The N of a `vN` selector, else None."""
        if re.fullmatch(r"v\d+", self.selector):
            return int(self.selector[1:])
        return None

    @property
    def alias(self) -> str:
        """The selector (an alias, or `vN`)."""
        return self.selector

    @property
    def follows_latest(self) -> bool:
        """True when the reference means "the newest version" (so it links to a producer step)."""
        return self.selector == "latest"

    def qualified(self, default_project: str | None) -> str:
        """`project/name:selector`, with `default_project` filled in when the reference has none."""
        project = self.project or default_project
        base = f"{project}/{self.name}" if project else self.name
        return f"{base}:{self.selector}"

    def __str__(self) -> str:
        head = f"{self.project}/" if self.project else ""
        return f"{head}{self.name}:{self.selector}"


def parse_ref(ref: str, default_selector: str = "latest") -> ArtifactRef:
    """Parse `name`, `name:alias`, `name:v3`, `project/name:alias` (a leading entity is ignored)."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidReference(
            "an artifact reference must be a non-empty string like 'name:latest'"
        )
    text = ref.strip()
    parts = text.split("/")
    if len(parts) == 3:  # entity/project/name:alias, as W&B writes them
        text = "/".join(parts[1:])
    m = _REF_RE.match(text)
    if not m:
        raise InvalidReference(
            f"artifact reference {ref!r} is malformed; write name, name:alias, name:v3"
            " or project/name:alias"
        )
    return ArtifactRef(m["project"], m["name"], m["sel"] or default_selector)
