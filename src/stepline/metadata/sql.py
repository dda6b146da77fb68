"""The SQL metadata store: runs and artifacts over one SQLAlchemy engine."""

from __future__ import annotations

from stepline.metadata.registry import RegistryMixin


class SqlMetadata(RegistryMixin):
    """Runs, history, logs, artifacts, versions, aliases and usage edges (SQLite or PostgreSQL)."""
