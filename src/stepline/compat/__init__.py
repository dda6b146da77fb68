"""Compatibility layers: the drop-in `wandb` module (`wandb_dropin/`) and the opt-in
`mlflow.run` interception (`mlflow_run.py`, installed through `site/sitecustomize.py`)."""

from __future__ import annotations

from pathlib import Path

WANDB_DROPIN_DIR = Path(__file__).resolve().parent / "wandb_dropin"
"""A directory holding a `wandb` package backed by stepline; put it on PYTHONPATH."""

SITE_DIR = Path(__file__).resolve().parent / "site"
"""Holds a `sitecustomize.py` that installs opt-in hooks (`STEPLINE_MLFLOW_RUN=stepline`)."""
