"""Pipelines: a `pipeline.yaml` of steps linked by artifacts, run whole, in part or as a sweep."""
