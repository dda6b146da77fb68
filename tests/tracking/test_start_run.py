"""`tracking.start_run`: a run on the backend given, with no process hooks and no active run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.backends.local import LocalBackend
from stepline.settings import Settings
from stepline.tracking.runs import start_run

HOOKS = """
import atexit, signal, sys
import stepline
from stepline.backends import get_backend
from stepline.tracking.runs import start_run
backend = get_backend()  # opening a store registers its own clean-ups; measured from here
before = (sys.excepthook, signal.getsignal(signal.SIGTERM), atexit._ncallbacks())
{start}
after = (sys.excepthook, signal.getsignal(signal.SIGTERM), atexit._ncallbacks())
print("hooks", "same" if before == after else "changed")
print("active", stepline.run is not None)
run.finish()
"""


def _probe(start: str, cwd: Path) -> list[str]:
    code = HOOKS.format(start=start)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return out.stdout.split("\n")[:2]


def test_start_run_installs_no_process_hooks(tmp_path: Path) -> None:
    start = "run = start_run(backend, project='p', job_type='train')"
    assert _probe(start, tmp_path) == ["hooks same", "active False"]


def test_init_still_installs_them(tmp_path: Path) -> None:
    start = "run = stepline.init(project='p', job_type='train')"
    assert _probe(start, tmp_path) == ["hooks changed", "active True"]


def test_the_run_goes_to_the_backend_given_not_the_configured_store(
    tmp_path: Path, store: Path
) -> None:
    other = LocalBackend(tmp_path / "elsewhere" / ".stepline")
    try:
        with start_run(
            other, project="team", job_type="train", config={"lr": 0.1}, info={"step": "train"}
        ) as run:
            run.log({"mae": 0.5})
        assert stepline.run is None
        record = other.get_run(run.id)
        assert (record.state, record.project, record.job_type) == ("finished", "team", "train")
        assert record.config == {"lr": 0.1} and record.info["step"] == "train"
        assert record.summary["mae"] == 0.5
        assert stepline.Api().runs("team") == []  # nothing in STEPLINE_DIR's store
        child = run.child_env()
        assert child["STEPLINE_DIR"] == str(tmp_path / "elsewhere" / ".stepline")
        assert child["STEPLINE_RUN_ID"] == run.id
    finally:
        other.close()


def test_defaults_come_from_the_settings_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPLINE_PROJECT", "from_env")
    monkeypatch.setenv("STEPLINE_RUN_GROUP", "g1")
    backend = stepline.Api().backend
    with start_run(backend) as implicit:  # this process's settings
        pass
    with start_run(backend, settings=Settings()) as bare:  # none at all
        pass
    with start_run(backend, settings=Settings(project="mine", job_type="etl")) as given:
        pass
    assert (implicit.project, implicit.group) == ("from_env", "g1")
    assert (bare.project, bare.group) == ("uncategorized", None)
    assert (given.project, given.job_type, given.group) == ("mine", "etl", None)


def test_names_are_checked_before_anything_is_written() -> None:
    from stepline.errors import UsageError

    backend = stepline.Api().backend
    with pytest.raises(UsageError):
        start_run(backend, project="no spaces/here")
    assert stepline.Api().runs() == []
