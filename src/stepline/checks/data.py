"""Loading the data under test: an artifact reference through stepline, or a local CSV."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stepline.errors import UsageError


def artifact_csv_path(ref: str, run: Any = None) -> Path:
    """The local file behind `ref`: an existing path as is, else `run.use_artifact(ref).file()`.

    With no `run`, one is started with `stepline.init(job_type="data_tests")` (inside a
    component run by stepline this attaches to the step's run, so lineage records the use).
    """
    if is_local(ref):
        local = Path(ref.removeprefix("file://"))
        if not local.is_file():
            raise UsageError(f"data file {local} does not exist")
        return local
    if run is None:
        run = start_run()
    return Path(run.use_artifact(ref).file())


def is_local(ref: str) -> bool:
    """A `file://` URL or an existing file, rather than an artifact reference."""
    return ref.startswith("file://") or os.path.isfile(ref)


def start_run(job_type: str = "data_tests") -> Any:
    """`stepline.init(job_type=...)`: returns the active run when there is one.

    The checks run as a component's own code (in its pytest process), so they start their run
    as user code does: attached to the step's run when stepline started the component.
    """
    from stepline.tracking.run import init

    return init(job_type=job_type)


def read_artifact_csv(ref: str, run: Any = None, **read_csv: Any) -> Any:
    """`pandas.read_csv` of the artifact (or local file) `ref`.

    Example:
        >>> df = read_artifact_csv("clean_sample.csv:reference")
    """
    import pandas as pd

    return pd.read_csv(artifact_csv_path(ref, run), **read_csv)
