"""A course-shaped root is fully cached on its second run (real Hydra, real HTTP, real runs).

The fixture (`tests/fixtures/pipelines/course_old`) has both causes of the misses seen in
students' projects: an old-style `@hydra.main(config_name="config")` root, whose working
directory (and so the `rf_config.json` it passes) is a new `outputs/<date>/<time>/` per run,
and a training component that writes `random_forest_dir/`, `clean_sample.csv` and a
timestamped file into its own folder. Its download step fetches from a real http.server on
loopback, whose file changes between runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("stepline.components")

import stepline

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pipelines" / "course_old"
SRC = Path(__file__).parents[2] / "src"


def stepline_cli(root: Path, *args: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "stepline.cli.pipeline", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def run_root(root: Path, *overrides: str) -> dict[str, dict]:
    out = stepline_cli(root, "run", ".", "--json", *overrides)
    steps = json.loads(out[out.index("{") :])["steps"]
    return {s["step"]: s for s in steps}


def why(root: Path, step: str) -> dict:
    out = stepline_cli(root, "why", step, "--project", "course_old", "--json")
    return json.loads(out[out.index("{") :])


def states(result: dict[str, dict]) -> dict[str, str]:
    return {step: r["state"] for step, r in result.items()}


def test_second_run_of_a_course_root_is_fully_cached(
    tmp_path: Path, served: tuple[Path, str]
) -> None:
    www, base = served
    (www / "sample.csv").write_text("id,price\n1,10\n2,20\n")
    os.utime(www / "sample.csv", (1_700_000_000, 1_700_000_000))
    root = tmp_path / "course_old"
    shutil.copytree(FIXTURE, root)
    url = f"etl.file_url={base}/sample.csv"
    train_dir = root / "components" / "train"

    first = run_root(root, url)
    assert states(first) == {"download": "finished", "train": "finished"}
    assert (train_dir / "random_forest_dir" / "model.json").is_file()
    assert (train_dir / "clean_sample.csv").is_file()
    assert len(list(train_dir.glob("trained-*.txt"))) == 1

    second = run_root(root, url)
    assert states(second) == {"download": "cached", "train": "cached"}
    assert second["train"]["cached_from"] == first["train"]["run"]
    # the path it was given changed: each run wrote its config to a new Hydra folder
    configs = sorted(root.glob("outputs/*/*/rf_config.json"))
    assert len(configs) == 2 and configs[0].read_text() == configs[1].read_text()
    report = why(root, "train")
    assert report["state"] == "cached" and report["changes"] == []

    # the remote file changes: the download runs again, and so does training on it
    (www / "sample.csv").write_text("id,price\n1,10\n2,20\n3,30\n")
    third = run_root(root, url)
    assert states(third) == {"download": "finished", "train": "finished"}
    changed = why(root, "download")
    assert [c["key"] for c in changed["changes"]] == ["parameters.file_url"]
    (before,) = (c["before"] for c in changed["changes"])
    (after,) = (c["after"] for c in changed["changes"])
    assert "content-length 19" in before and "content-length 24" in after
    inputs = [c for c in why(root, "train")["changes"] if c["field"] == "inputs"]
    assert [(c["before"], c["after"]) for c in inputs] == [("v0", "v1")]

    # back to the first file (a new Last-Modified): downloaded again, the same content as
    # v0 gives v0 back, and training on v0 is the first run's
    (www / "sample.csv").write_text("id,price\n1,10\n2,20\n")
    fourth = run_root(root, url)
    assert states(fourth) == {"download": "finished", "train": "cached"}
    assert fourth["train"]["cached_from"] == first["train"]["run"]
    api = stepline.Api()
    assert api.artifact("course_old/sample.csv:latest").version == "v0"
    assert [a.version for a in api.artifact_versions("course_old/sample.csv")] == ["v0", "v1"]
    closest = why(root, "train")  # compared with the first run, not with the third
    assert closest["previous"] in (first["train"]["run"], second["train"]["run"])
    assert closest["changes"] == []
