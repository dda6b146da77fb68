"""Plain scripts and notebooks that `import wandb`, unchanged: `stepline exec` and the opt-in
`stepline wandb install`. Real processes: the `stepline` command, a Jupyter kernel, a uv venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import stepline
from stepline.backends import reset
from stepline.envs.uv import uv_bin

BIN = Path(sys.executable).parent
STEPLINE = str(BIN / "stepline")
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"
SCRIPT = """
import wandb
run = wandb.init(project="exercise_5", job_type="process_data")
art = wandb.Artifact("preprocessed_data.csv", type="clean_data")
with art.new_file("preprocessed_data.csv") as fh:
    fh.write("a,b\\n1,2\\n")
run.log_artifact(art)
print(wandb.__version__, run.id)
run.finish()
"""


def user_env(**extra: str) -> dict[str, str]:
    """A user who set nothing and did not activate the venv stepline is installed in."""
    drop = ("STEPLINE_DIR", "VIRTUAL_ENV", "PYTHONPATH", "STEPLINE_PROJECT", "WANDB_PROJECT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PATH": BARE_PATH, **extra}


def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def open_store(store: Path, monkeypatch: pytest.MonkeyPatch) -> stepline.Api:
    monkeypatch.setenv("STEPLINE_DIR", str(store))
    reset()
    return stepline.Api()


def test_exec_runs_a_plain_script_against_the_project_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_repo(tmp_path)
    (repo / "prepare.py").write_text(SCRIPT)
    (repo / "bare.py").write_text("import wandb\nwandb.init().finish()\n")
    proc = subprocess.run(
        [STEPLINE, "exec", "--", "python", "../prepare.py"],
        cwd=repo / "notebooks",
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    version, run_id = proc.stdout.split()
    assert version == "0.0.0+stepline"
    assert f"stepline: created a stepline store in {repo / '.stepline'}" in proc.stderr
    defaults = subprocess.run(
        [STEPLINE, "exec", "--project", "p", "--job-type", "j", "--", "python", "bare.py"],
        cwd=repo,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert defaults.returncode == 0, defaults.stderr
    failing = subprocess.run(
        [STEPLINE, "exec", "--", "python", "-c", "raise SystemExit(7)"],
        cwd=repo,
        env=user_env(),
        timeout=120,
    )
    assert failing.returncode == 7

    api = open_store(repo / ".stepline", monkeypatch)
    run = api.run(run_id)
    assert (run.project, run.job_type, run.state) == ("exercise_5", "process_data", "finished")
    assert api.artifact("exercise_5/preprocessed_data.csv:v0").logged_by().id == run_id
    (bare,) = api.runs("p")
    assert bare.job_type == "j"


def test_exec_runs_a_notebook_whose_kernel_imports_wandb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_repo(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import wandb\nrun = wandb.init(project='nyc_airbnb', group='eda', job_type='eda')"
        ),
        nbformat.v4.new_code_cell("run.log({'rows': 3})\nprint(wandb.__version__, run.id)"),
        nbformat.v4.new_code_cell("run.finish()"),
    ]
    nbformat.write(nb, repo / "notebooks" / "eda.ipynb")
    proc = subprocess.run(
        [STEPLINE, "exec", "--", "jupyter", "execute", "eda.ipynb", "--output", "done.ipynb"],
        cwd=repo / "notebooks",
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    done = nbformat.read(repo / "notebooks" / "done.ipynb", as_version=4)
    version, run_id = done.cells[1].outputs[0]["text"].split()
    assert version == "0.0.0+stepline"
    run = open_store(repo / ".stepline", monkeypatch).run(run_id)
    assert (run.project, run.group, run.state) == ("nyc_airbnb", "eda", "finished")
    assert run.summary["rows"] == 3


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A user's own venv with stepline installed into it (editable, from this checkout)."""
    path = tmp_path / "venv"
    uv = uv_bin()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(path)], check=True)
    checkout = Path(__file__).resolve().parents[2]
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(path / "bin" / "python"), "-e", str(checkout)],
        check=True,
        timeout=300,
    )
    return path


def which_wandb(venv: Path) -> str:
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import wandb; print(wandb.__version__)"],
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "missing"


def sl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPLINE, *args], cwd=cwd, env=user_env(), capture_output=True, text=True, timeout=120
    )


def fake_real_wandb(venv: Path) -> None:
    """What `pip install wandb` leaves: a package and its dist-info (no network needed)."""
    (site,) = (venv / "lib").glob("python*/site-packages")
    (site / "wandb").mkdir()
    (site / "wandb" / "__init__.py").write_text("__version__ = '0.19.1'\n")
    info = site / "wandb-0.19.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wandb\nVersion: 0.19.1\n")
    (info / "RECORD").write_text("")


def test_wandb_install_into_a_venv_and_uninstall(tmp_path: Path, venv: Path) -> None:
    assert which_wandb(venv) == "missing"
    made = sl("wandb", "install", "--venv", str(venv), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert which_wandb(venv) == "0.0.0+stepline"
    script = tmp_path / "train.py"
    script.write_text("import wandb\nrun = wandb.init(project='p')\nprint(run.project)\n")
    ran = subprocess.run(
        [str(venv / "bin" / "python"), str(script)],
        cwd=tmp_path,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0 and ran.stdout.strip() == "p", ran.stderr
    gone = sl("wandb", "uninstall", "--venv", str(venv), cwd=tmp_path)
    assert gone.returncode == 0 and gone.stdout.startswith("removed ")
    assert which_wandb(venv) == "missing"


def test_wandb_install_refuses_to_hide_a_real_wandb(tmp_path: Path, venv: Path) -> None:
    fake_real_wandb(venv)
    refused = sl("wandb", "install", "--venv", str(venv), cwd=tmp_path)
    assert refused.returncode == 4  # a conflict (docs/cli.md)
    assert "wandb 0.19.1 is installed there" in refused.stderr and "--force" in refused.stderr
    assert which_wandb(venv) == "0.19.1"
    forced = sl("wandb", "install", "--venv", str(venv), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert which_wandb(venv) == "0.0.0+stepline"
    assert sl("wandb", "uninstall", "--venv", str(venv), cwd=tmp_path).returncode == 0
    assert which_wandb(venv) == "0.19.1"


def test_wandb_install_needs_stepline_in_the_venv(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([uv_bin(), "venv", "-q", "--python", sys.executable, str(bare)], check=True)
    proc = sl("wandb", "install", "--venv", str(bare), cwd=tmp_path)
    assert proc.returncode == 2 and "stepline is not installed in this venv" in proc.stderr
    assert "Traceback" not in proc.stderr
