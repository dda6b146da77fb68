"""Compatibility layers: the drop-in `wandb` module (`wandb_dropin/`).

`mlflow.run` interception for course-style pipelines lives in `stepline.pipeline.course`."""

from __future__ import annotations

from pathlib import Path

WANDB_DROPIN_DIR = Path(__file__).resolve().parent / "wandb_dropin"
"""A directory holding a `wandb` package backed by stepline; put it on PYTHONPATH."""
