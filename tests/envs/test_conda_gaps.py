"""conda.yml translation gaps seen in real course projects, each with real uv envs.

git+https pip lines and URL rewrites, machine tools (`git`), pip's setuptools with
pkg_resources, user constraints (and uv's UV_CONSTRAINT) in the lock key, wheels only for heavy
packages with the interpreter chosen by wheel availability.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stepline.envs.lock import NoWheel, lock_spec
from stepline.envs.manager import activate, plan_env
from stepline.envs.ref import EnvRef
from stepline.envs.spec import load_spec
from stepline.errors import EnvError

OLD_URL = (
    "https://github.com/udacity/nd0821-c2-build-model-workflow-starter.git"
    "#egg=wandb-utils&subdirectory=components"
)
OLD_REPO = "https://github.com/udacity/nd0821-c2-build-model-workflow-starter"


def git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def make_upstream(root: Path, value: str = "from-git") -> Path:
    """A local git repo shaped like the course starter: components/setup.py → wandb-utils."""
    comps = root / "components"
    comps.mkdir(parents=True)
    (comps / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='wandb-utils', version='0.1', py_modules=['wu'])\n"
    )
    (comps / "wu.py").write_text(f"VALUE = {value!r}\n")
    (comps / "get_data").mkdir()
    (comps / "get_data" / "MLproject").write_text(
        "name: get_data\nentry_points:\n  main:\n    command: python -c \"print('hello from git')\"\n"
    )
    git("init", "-q", "-b", "main", cwd=root)
    git("add", ".", cwd=root)
    git("commit", "-q", "-m", "init", cwd=root)
    return root


def run_in(active, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        active.argv(f'python -c "{code}"'), env=active.env, cwd=cwd, capture_output=True, text=True
    )


# -- a. git+https pip lines and URL rewrites ---------------------------------------------------
def test_git_pip_line_installs_from_a_rewritten_url(
    shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = make_upstream(tmp_path / "upstream")
    comp = tmp_path / "step"
    comp.mkdir()
    (comp / "conda.yml").write_text(f"dependencies:\n  - pip:\n      - git+{OLD_URL}\n")
    monkeypatch.setenv("STEPLINE_URL_REWRITE", f"{OLD_REPO}={upstream.as_uri()}")
    spec = load_spec(comp / "conda.yml")
    assert f"git+{upstream.as_uri()}#egg=wandb-utils&subdirectory=components" in spec.layers[-1]
    logs: list[str] = []
    active = activate(plan_env(EnvRef("conda_env", comp / "conda.yml"), on_log=logs.append))
    proc = run_in(active, "import wu; print(wu.VALUE)", comp)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "from-git"
    assert active.built is not None
    assert "URL rewrite from STEPLINE_URL_REWRITE" in active.built.log


def test_pyproject_url_rewrite_to_a_checkout_path(tmp_path: Path) -> None:
    upstream = make_upstream(tmp_path / "checkout")
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.stepline]\nurl_rewrite = {{ "https://github.com/udacity" = "{tmp_path}" }}\n'
    )
    (tmp_path / "conda.yml").write_text(
        "dependencies:\n  - pip:\n"
        "      - git+https://github.com/udacity/checkout.git@v1#egg=wu&subdirectory=components\n"
        "      - -e git+https://github.com/udacity/checkout#egg=wu\n"
    )
    spec = load_spec(tmp_path / "conda.yml")
    assert spec.layers[-1] == (str(upstream / "components"), f"-e {upstream}")
    assert any("[tool.stepline]" in note for note in spec.notes)


def test_component_and_mlflow_run_uris_use_the_rewrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepline.components.runner import prepare
    from stepline.components.sources import resolve_source

    upstream = make_upstream(tmp_path / "upstream")
    monkeypatch.setenv("STEPLINE_URL_REWRITE", f"{OLD_REPO}={upstream.as_uri()}")
    # a components_repository-style URI with #subdir and version=, checked out from the mirror
    src = resolve_source(f"{OLD_REPO}.git#components/get_data", "main")
    assert src.commit == git("rev-parse", "HEAD", cwd=upstream)
    assert (src.directory / "MLproject").is_file()
    # mlflow.run(...) calls go through prepare(): the same rewrite, here to a plain path
    monkeypatch.setenv("STEPLINE_URL_REWRITE", f"https://github.com/udacity={tmp_path}")
    step = prepare("https://github.com/udacity/upstream#components/get_data", version="main")
    assert step.source_dir == upstream / "components" / "get_data"


def test_git_https_without_network_names_url_and_setting(
    shared_cache: Path, tmp_path: Path
) -> None:
    (tmp_path / "conda.yml").write_text(f"dependencies:\n  - pip:\n      - git+{OLD_URL}\n")
    with pytest.raises(EnvError) as err:
        plan_env(EnvRef("conda_env", tmp_path / "conda.yml"))
    message = str(err.value)
    assert f"git+{OLD_URL}" in message
    assert f"STEPLINE_URL_REWRITE='{OLD_REPO}.git=/path/to/checkout'" in message


def test_bad_rewrite_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from stepline.envs.settings import url_rewrites
    from stepline.errors import SpecError

    monkeypatch.setenv("STEPLINE_URL_REWRITE", "https://github.com/org/repo")
    with pytest.raises(SpecError, match="is not URL=TARGET"):
        url_rewrites()


# -- b. conda packages that are the machine's tools --------------------------------------------
def test_conda_git_is_skipped_with_a_note_in_the_build_log(
    shared_cache: Path, tmp_path: Path
) -> None:
    (tmp_path / "conda.yml").write_text("dependencies:\n  - git=2.30.2\n  - six=1.16.0\n")
    active = activate(plan_env(EnvRef("conda_env", tmp_path / "conda.yml")))
    assert active.built is not None
    assert "conda package 'git=2.30.2' skipped" in active.built.log
    proc = run_in(active, "import six; print(six.__version__)", tmp_path)
    assert proc.stdout.strip() == "1.16.0", proc.stderr


def test_conda_git_without_git_on_path_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conda.yml").write_text("dependencies:\n  - git\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EnvError, match=r"conda.yml:2: .*`git` is not on PATH; install it"):
        load_spec(tmp_path / "conda.yml")


# -- c. pip's setuptools with pkg_resources ---------------------------------------------------
def test_spec_with_pip_gets_pkg_resources(shared_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "conda.yml").write_text("dependencies:\n  - pip=24.3.1\n  - six\n")
    active = activate(plan_env(EnvRef("conda_env", tmp_path / "conda.yml")))
    proc = run_in(active, "import pkg_resources; print('ok')", tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    assert active.built is not None and "pkg_resources" in active.built.log


def test_spec_without_pip_or_naming_setuptools_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "conda.yml").write_text("dependencies:\n  - six\n")
    assert load_spec(tmp_path / "conda.yml").layers == (("six",),)
    (tmp_path / "conda.yml").write_text("dependencies:\n  - pip\n  - setuptools=75\n")
    assert load_spec(tmp_path / "conda.yml").layers == (("setuptools==75.*",),)


# -- d. constraints --------------------------------------------------------------------------
def _pins(lock_text: str) -> dict[str, str]:
    return dict(
        line.split("==", 1) for line in lock_text.splitlines() if "==" in line and line[0] != "#"
    )


def test_constraint_setting_pyproject_and_uv_constraint_enter_the_lock(
    shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    spec = load_spec(tmp_path / "requirements.txt")
    assert _pins(lock_spec(spec).layers[0])["six"] >= "1.17.0"
    monkeypatch.setenv("STEPLINE_CONSTRAINTS", "six<1.17")
    assert _pins(lock_spec(spec).layers[0])["six"] == "1.16.0"
    monkeypatch.delenv("STEPLINE_CONSTRAINTS")
    (tmp_path / "pyproject.toml").write_text('[tool.stepline]\nconstraints = ["six<1.16"]\n')
    assert _pins(lock_spec(spec).layers[0])["six"] == "1.15.0"
    (tmp_path / "pyproject.toml").unlink()
    # uv's own UV_CONSTRAINT changes the resolve, so it must change the cached lock too
    (tmp_path / "uv-constraints.txt").write_text("six<1.15\n")
    monkeypatch.setenv("UV_CONSTRAINT", str(tmp_path / "uv-constraints.txt"))
    assert _pins(lock_spec(spec).layers[0])["six"] == "1.14.0"


def test_cli_constraint_flag(shared_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = [sys.executable, "-c", "from stepline.cli import main; main()"]
    args += ["env", "build", "requirements.txt"]
    proc = subprocess.run(
        [*args, "--constraint", "six<1.17", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    env_path = Path(json.loads(proc.stdout)["path"])
    assert _pins((env_path / "stepline-lock-0.txt").read_text())["six"] == "1.16.0"


# -- e. wheels only for heavy packages; the interpreter chosen by wheel availability ----------
def test_old_pin_with_pinned_python_fails_fast_saying_what_to_pin(
    shared_cache: Path, tmp_path: Path
) -> None:
    version = ".".join(sys.version.split()[0].split(".")[:2])
    (tmp_path / "conda.yml").write_text(f"dependencies:\n  - python={version}\n  - scipy=1.5.2\n")
    started = time.monotonic()
    with pytest.raises(NoWheel) as err:
        plan_env(EnvRef("conda_env", tmp_path / "conda.yml"))
    assert time.monotonic() - started < 120  # a resolve, not a source build
    assert f"no wheel of scipy==1.5.2.* for Python {version}; pin python" in str(err.value)
    assert "relax scipy" in str(err.value)


def test_old_pin_with_unpinned_python_picks_an_interpreter_with_wheels(
    shared_cache: Path, tmp_path: Path
) -> None:
    from stepline.envs.interpreters import present

    if not any(i.version.startswith("3.8.") for i in present()):
        pytest.skip("needs a Python 3.8 on this machine (scipy 1.5.2 has wheels for 3.6-3.8)")
    (tmp_path / "conda.yml").write_text("dependencies:\n  - scipy=1.5.2\n")
    logs: list[str] = []
    plan = plan_env(EnvRef("conda_env", tmp_path / "conda.yml"), on_log=logs.append)
    assert plan.lock is not None
    assert plan.lock.interpreter.version.startswith("3.8.")
    assert "scipy==1.5.2" in plan.lock.layers[0]
    assert any("using Python 3.8" in line for line in logs)
    # the choice is remembered: planning again does not try the other interpreters
    again: list[str] = []
    plan2 = plan_env(EnvRef("conda_env", tmp_path / "conda.yml"), on_log=again.append)
    assert plan2.digest == plan.digest and not any("trying" in line for line in again)
