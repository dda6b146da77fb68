"""Compatibility layers: the drop-in `wandb` module (see `wandb_dropin/`)."""

from __future__ import annotations

from pathlib import Path

WANDB_DROPIN_DIR = Path(__file__).resolve().parent / "wandb_dropin"
"""A directory holding a `wandb` package backed by stepline; put it on PYTHONPATH."""
