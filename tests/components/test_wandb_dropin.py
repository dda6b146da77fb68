import os
import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.backends import reset
from stepline.compat import WANDB_DROPIN_DIR

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = """
import argparse
import wandb

assert wandb.run is None
wandb.config.update({"early": 1})
run = wandb.init(project="dropin", job_type="check", save_code=True, entity="ignored")
assert wandb.run is run and wandb.config["early"] == 1
run.config.update(argparse.Namespace(lr=0.1))
wandb.log({"loss": 0.5})
wandb.summary["r2"] = 0.8
art = wandb.Artifact("notes.txt", type="notes", description="d")
with art.new_file("notes.txt") as fh:
    fh.write("hello")
run.log_artifact(art)
art.wait()
print(run.id)
wandb.finish()
wandb.config = {"after": "finish"}  # assignment without a run must not break
"""


def test_dropin_wandb_tracks_into_stepline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{WANDB_DROPIN_DIR}{os.pathsep}{SRC}",
        "STEPLINE_DIR": str(tmp_path / ".stepline"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / ".stepline"))
    reset()
    run = stepline.Api().run(run_id)
    assert run.state == "finished" and run.job_type == "check"
    assert run.config["early"] == 1 and run.config["lr"] == 0.1
    assert run.summary["r2"] == 0.8 and run.summary["loss"] == 0.5
    assert stepline.Api().artifact("dropin/notes.txt:latest").type == "notes"
    reset()
