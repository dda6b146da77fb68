"""A component's own `wandb.init(project=, group=, job_type=)` wins under `stepline component run`.

The components are shaped like the course's exercises: one logs `preprocessed_data.csv` in
project `exercise_5`, the next reads it from project `exercise_7` by a cross-project reference.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import stepline
from stepline.backends import reset

STEPLINE = str(Path(sys.executable).parent / "stepline")
CONDA = "name: ex\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - wandb\n"
MLPROJECT = (
    "name: {name}\nconda_env: conda.yml\nentry_points:\n  main:\n    command: python run.py\n"
)
PREPROCESS = """
import wandb
run = wandb.init(project="exercise_5", job_type="process_data")
with open("preprocessed_data.csv", "w") as fh:
    fh.write("genre,score\\nrock,1\\n")
art = wandb.Artifact("preprocessed_data.csv", type="clean_data", description="clean")
art.add_file("preprocessed_data.csv")
run.log_artifact(art)
run.finish()
"""
CHECK = """
import wandb
run = wandb.init(project="exercise_7", job_type="data_tests", group="experiment_1")
path = run.use_artifact("exercise_5/preprocessed_data.csv:latest").file()
print("read", open(path).read().splitlines()[1])
run.finish()
"""
BARE = """
import wandb
run = wandb.init()
run.finish()
"""


def component(root: Path, name: str, code: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT.format(name=name))
    (folder / "conda.yml").write_text(CONDA)
    (folder / "run.py").write_text(code)
    return folder


def run_component(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [STEPLINE, "component", "run", str(folder), "--env-manager", "local", *args],
        cwd=folder.parent,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_explicit_project_group_and_job_type_win(tmp_path: Path) -> None:
    prep = component(tmp_path, "preprocess", PREPROCESS)
    check = component(tmp_path, "check", CHECK)
    run_component(prep)
    run_component(prep, "--project", "scratch", "--group", "g", "--job-type", "jt")
    out = run_component(check, "--group", "from_cli").stdout
    assert "[check] read rock,1" in out

    reset()
    api = stepline.Api()
    preps = api.runs("exercise_5")
    assert len(preps) == 2 and {r.job_type for r in preps} == {"process_data"}
    assert sorted(r.name.rsplit("-", 1)[1] for r in preps) == ["1", "2"]  # counted in exercise_5
    assert sorted(str(r.group) for r in preps) == ["None", "g"]  # --group is a default
    assert api.artifact("exercise_5/preprocessed_data.csv:latest").version == "v0"
    (checked,) = api.runs("exercise_7")
    assert checked.group == "experiment_1" and checked.job_type == "data_tests"
    assert [a.name for a in checked.used_artifacts()] == ["preprocessed_data.csv"]
    assert api.runs("uncategorized") == [] and api.runs("scratch") == []


def test_the_runner_options_are_the_defaults(tmp_path: Path) -> None:
    bare = component(tmp_path, "bare", BARE)
    run_component(bare, "--project", "p1", "--group", "g1", "--job-type", "jt1")
    reset()
    (run,) = stepline.Api().runs("p1")
    assert (run.group, run.job_type) == ("g1", "jt1")
