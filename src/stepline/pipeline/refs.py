"""Artifact references as a pipeline reads them: the core's `[project/]name[:alias|vN]`."""

from stepline.tracking.refs import ArtifactRef, parse_ref

__all__ = ["ArtifactRef", "parse_ref"]
