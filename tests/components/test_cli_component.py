import os
import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.backends import reset
from stepline.components.mlproject import load_project

SRC = Path(__file__).resolve().parents[2] / "src"


def stepline_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "STEPLINE_DIR": str(cwd / ".stepline")}
    return subprocess.run(
        [sys.executable, "-c", "from stepline.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_new_scaffolds_a_runnable_course_component(tmp_path: Path) -> None:
    made = stepline_cli(
        "component", "new", "basic_cleaning",
        "--param", "input_artifact:str",
        "--param", "output_artifact:str=clean_sample.csv",
        "--param", "output_type:str=clean_sample",
        "--param", "min_price:float=10",
        "--param", "max_price:float",
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    comp = tmp_path / "basic_cleaning"
    project = load_project(comp)
    main = project.entry_point("main")
    assert project.env.kind == "python_env"
    assert (
        main.parameters["min_price"].type == "float" and main.parameters["min_price"].default == 10
    )
    assert main.parameters["max_price"].required
    run_py = (comp / "run.py").read_text()
    assert 'stepline.init(job_type="basic_cleaning")' in run_py
    assert "use_artifact(args.input_artifact)" in run_py and "run.log_artifact(artifact)" in run_py
    assert '"%(asctime)-15s %(message)s"' in run_py
    helped = subprocess.run(
        [sys.executable, "run.py", "--help"], cwd=comp, capture_output=True, text=True
    )
    assert "--min_price MIN_PRICE" in helped.stdout and "Max price" in helped.stdout

    (comp / "clean_sample.csv").write_text("id,price\n1,50\n")
    put = stepline_cli(
        "artifacts", "put", str(comp / "clean_sample.csv"), "--name", "demo/sample.csv",
        "--type", "raw_data", cwd=tmp_path,
    )  # fmt: skip
    assert put.returncode == 0, put.stderr
    ran = stepline_cli(
        "component", "run", "basic_cleaning", "--env-manager", "local", "--project", "demo",
        "-P", "input_artifact=sample.csv:latest", "-P", "max_price=350",
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "[basic_cleaning]" in ran.stderr and "Logging artifact clean_sample.csv" in ran.stderr
    assert "finished (exit code 0" in ran.stderr


@pytest.mark.parametrize("code", [0, 3])
def test_run_exit_code_is_the_components(tmp_path: Path, code: int) -> None:
    comp = tmp_path / "c"
    comp.mkdir()
    (comp / "MLproject").write_text(
        "name: c\nentry_points:\n  main:\n    parameters: {x: int}\n"
        "    command: bash -c 'echo value=$1 rest=$2,$3; exit " + str(code) + "' _ {x}\n"
    )
    ran = stepline_cli("component", "run", "c", "-P", "x=7", "-P", "extra=a b", cwd=tmp_path)
    assert ran.returncode == code
    assert "[c] value=7 rest=--extra,a b" in ran.stdout
    bad = stepline_cli("component", "run", "c", "-P", "x=seven", cwd=tmp_path)
    assert bad.returncode == 2 and "parameter 'x' is an int, got 'seven'" in bad.stderr


def test_mlflow_run_in_a_pipeline_main_is_routed_to_stepline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A main.py written for mlflow.run; `mlflow` here is a stand-in whose own run() refuses."""
    root = tmp_path / "pipeline"
    (root / "mlflow" / "projects").mkdir(parents=True)
    (root / "mlflow" / "__init__.py").write_text(
        "from mlflow.projects import run\n__version__ = 'stand-in'\n"
    )
    (root / "mlflow" / "projects" / "__init__.py").write_text(
        "def run(*a, **k):\n    raise SystemExit('the real mlflow.run was called')\n"
    )
    (root / "main.py").write_text(
        "import os, mlflow\n"
        "os.environ['WANDB_PROJECT'] = 'nyc_airbnb'\n"
        "os.environ['WANDB_RUN_GROUP'] = 'dev'\n"
        "mlflow.run(os.path.join('components', 'step'), 'main', version='main',\n"
        "           parameters={'x': 5}, env_manager='local')\n"
        "print('pipeline done')\n"
    )
    (root / "MLproject").write_text(
        "name: nyc_airbnb\nentry_points:\n  main:\n    command: python main.py\n"
    )
    (root / "components" / "step").mkdir(parents=True)
    (root / "components" / "step" / "MLproject").write_text(
        "name: step\nentry_points:\n  main:\n    parameters: {x: int}\n"
        '    command: "python -c \'import sys; print(\\"step got\\", sys.argv[1])\' {x}"\n'
    )
    real = stepline_cli(
        "component", "run", "pipeline", "--env-manager", "local", "--mlflow-run", "real",
        cwd=tmp_path,
    )  # fmt: skip
    assert real.returncode != 0 and "the real mlflow.run was called" in real.stderr
    routed = stepline_cli("component", "run", "pipeline", "--env-manager", "local", cwd=tmp_path)
    assert routed.returncode == 0, routed.stderr
    assert "pipeline done" in routed.stdout
    assert "step got 5" in routed.stdout  # the nested step's output flows through main.py
    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / ".stepline"))
    reset()
    runs = stepline.Api().runs("nyc_airbnb")  # the root joined the project main.py set
    assert {r.info["component"] for r in runs} == {"step", "nyc_airbnb"}
    assert {r.group for r in runs} == {"dev"}
    steps = [r for r in runs if r.info["component"] == "step"]
    assert len(steps) == 1 and steps[0].config["x"] == "5"
    assert steps[0].info["component"] == "step" and steps[0].state == "finished"
