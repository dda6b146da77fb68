"""Artifact references as a pipeline reads them: `[project/]name[:alias|vN]`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stepline.errors import InvalidReference

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class ArtifactRef:
    """A parsed artifact reference; `alias` is `latest` when the reference has none."""

    name: str
    alias: str = "latest"
    project: str | None = None

    @property
    def follows_latest(self) -> bool:
        """True when the reference means "the newest version" (and so links to a producer step)."""
        return self.alias == "latest"

    def qualified(self, default_project: str | None) -> str:
        """`project/name:alias` with `default_project` filled in when the reference has none."""
        project = self.project or default_project
        base = f"{project}/{self.name}" if project else self.name
        return f"{base}:{self.alias}"

    def __str__(self) -> str:
        base = f"{self.project}/{self.name}" if self.project else self.name
        return f"{base}:{self.alias}"


def parse_ref(text: str) -> ArtifactRef:
    """Parse `[project/]name[:alias]`, e.g. `parse_ref("nyc/sample.csv:v2")`.

    Raises `InvalidReference` naming the reference and the expected shape.
    """
    raw = text.strip()
    project: str | None = None
    if "/" in raw:
        project, _, raw = raw.partition("/")
        if not project or "/" in raw:
            raise InvalidReference(_bad_ref(text))
    name, sep, alias = raw.partition(":")
    if not sep:
        alias = "latest"
    if not name or not _NAME.match(name) or not alias or not _NAME.match(alias):
        raise InvalidReference(_bad_ref(text))
    return ArtifactRef(name=name, alias=alias, project=project)


def _bad_ref(text: str) -> str:
    return f"artifact reference {text!r}: expected [project/]name[:alias], e.g. sample.csv:latest"
