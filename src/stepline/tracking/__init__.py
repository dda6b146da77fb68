"""Runs, metrics, artifacts, versions, aliases, lineage and queries: the W&B-shaped core."""
