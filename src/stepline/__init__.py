"""stepline: local-first ML pipelines with versioned artifacts, runs and lineage."""

__version__ = "0.1.0"
