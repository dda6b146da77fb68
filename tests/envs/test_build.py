"""Real uv-built envs (small pure-python packages so the suite stays fast)."""

import json
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from stepline.envs.build import build_env, env_digest
from stepline.envs.dockerfile import dockerfile
from stepline.envs.interpreters import select
from stepline.envs.lock import Lock, resolve_lock
from stepline.envs.manager import activate, plan_env
from stepline.envs.ref import EnvRef
from stepline.envs.registry import list_envs, parse_duration, prune
from stepline.envs.spec import load_spec
from stepline.errors import EnvError


def run_in(active, code: str, cwd: Path) -> str:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        active.argv(f'python -c "{code}"'), env=active.env, cwd=cwd, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_conda_yml_with_pip_section_layers_and_editable(shared_cache: Path, tmp_path: Path) -> None:
    comps = tmp_path / "components"
    (comps / "step").mkdir(parents=True)
    (comps / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='wandb-utils', version='0.1', py_modules=['wu'])\n"
    )
    (comps / "wu.py").write_text("VALUE = 'from-editable'\n")
    (comps / "step" / "conda.yml").write_text(
        "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.13\n  - pip=24.3.1\n"
        "  - six=1.16.0\n  - pip:\n      - six==1.17.0\n      - wandb==0.21.3\n      - -e ..\n"
    )
    logs: list[str] = []
    plan = plan_env(EnvRef("conda_env", comps / "step" / "conda.yml"), on_log=logs.append)
    assert plan.manager == "uv" and plan.lock is not None
    assert plan.lock.interpreter.version.startswith("3.13.")
    active = activate(plan, on_log=logs.append, component="step")
    assert active.built is not None and active.built.built_now
    assert any("six==1.16.0" in line for line in logs)  # conda layer first
    out = run_in(
        active,
        "import sys, six, wu, wandb, stepline; "
        "print(sys.version.split()[0], six.__version__, wu.VALUE, wandb.__name__)",
        comps / "step",
    )
    version, six_version, value, wandb_name = out.split()
    assert version.startswith("3.13.")
    assert six_version == "1.17.0"  # the pip section overrides the conda layer
    assert value == "from-editable" and wandb_name == "wandb"
    assert "wandb_dropin" in str(
        Path(run_in(active, "import wandb; print(wandb.__file__)", comps)).resolve()
    )
    # byte-compiled at build time
    assert list(active.built.path.glob("lib/python3.13/site-packages/six*.pyc")) or list(
        active.built.path.glob("lib/python3.13/site-packages/__pycache__/six*.pyc")
    )
    # a second plan + activate reuses it, fast
    t0 = time.perf_counter()
    again = activate(plan_env(EnvRef("conda_env", comps / "step" / "conda.yml")), component="s2")
    assert time.perf_counter() - t0 < 1.0
    assert again.built is not None and not again.built.built_now
    assert again.built.path == active.built.path
    envs = {e.digest: e for e in list_envs()}
    assert sorted(envs[plan.digest].components) == ["s2", "step"]


def _build_in_subprocess(args: tuple[str, str]) -> bool:
    import os

    cache, spec_path = args
    os.environ["STEPLINE_CACHE_DIR"] = cache
    spec = load_spec(spec_path)
    lock = resolve_lock(spec, select(spec.python))
    return build_env(lock).built_now


def test_eight_concurrent_builds_build_once(shared_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("tomli==2.0.1\n")
    with ProcessPoolExecutor(8) as pool:
        results = list(
            pool.map(
                _build_in_subprocess, [(str(shared_cache), str(tmp_path / "requirements.txt"))] * 8
            )
        )
    assert results.count(True) == 1
    assert not list((shared_cache / "envs").glob(".build-*"))


def test_failed_build_leaves_nothing(shared_cache: Path) -> None:
    interp = select(None)
    bogus = Lock(
        layers=("stepline-no-such-package-xyz==9.9.9\n",), interpreter=interp, spec_digest="x"
    )
    with pytest.raises(EnvError, match="installing layer 1 failed"):
        build_env(bogus)
    assert not (shared_cache / "envs" / env_digest(bogus)).exists()
    assert not list((shared_cache / "envs").glob(".build-*"))


def test_unresolvable_requirement_names_the_spec(shared_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six==0.0.0.1\n")
    with pytest.raises(EnvError) as err:
        plan_env(EnvRef("python_env", tmp_path / "requirements.txt"), manager="uv")
    assert str(tmp_path / "requirements.txt") in str(err.value)
    assert "cannot resolve" in str(err.value)


def test_lock_is_cached_and_stable(shared_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("tomli==2.0.1\n")
    spec = load_spec(tmp_path / "requirements.txt")
    interp = select(None)
    first = resolve_lock(spec, interp)
    again = resolve_lock(spec, interp, refresh=True)
    assert first.digest == again.digest
    assert "tomli==2.0.1" in first.layers[0]
    files = dockerfile(first)
    assert (
        "FROM python:" in files["Dockerfile"] and "COPY stepline-lock-0.txt" in files["Dockerfile"]
    )
    assert "tomli==2.0.1" in files["stepline-lock-0.txt"]


def test_prune(shared_cache: Path, tmp_path: Path) -> None:
    from stepline.components.environment import build_path

    (tmp_path / "requirements.txt").write_text("tomli==2.0.1\n")
    build_path(tmp_path)
    before = {e.digest for e in list_envs()}
    assert before
    meta = json.loads(
        (shared_cache / "envs" / next(iter(before)) / "stepline-env.json").read_text()
    )
    assert meta["python"]
    assert prune(parse_duration("30d")) == []
    removed = prune(parse_duration("1s"), dry_run=True, now=time.time() + 10)
    assert {e.digest for e in removed} == before
    assert {e.digest for e in list_envs()} == before
    assert parse_duration("2w") == 14 * 86400 and parse_duration("90m") == 5400


def test_bytecode_is_shared_between_envs(shared_cache: Path, tmp_path: Path) -> None:
    from stepline.components.environment import build_path

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "requirements.txt").write_text("tomli==2.0.1\n")
    (tmp_path / "b" / "requirements.txt").write_text("tomli==2.0.1\nsix==1.16.0\n")
    build_path(tmp_path / "a")
    logs: list[str] = []
    b = build_path(tmp_path / "b", on_log=logs.append)
    assert b.built is not None and b.built.built_now
    note = [line for line in logs if line.startswith("bytecode:")][-1]
    assert not note.startswith("bytecode: 0 files linked")
    pycs = list(b.built.path.glob("lib/python*/site-packages/tomli/__pycache__/__init__.*.pyc"))
    assert pycs and pycs[0].stat().st_nlink >= 2
    proc = subprocess.run(
        [str(b.built.python), "-v", "-c", "import tomli"],
        capture_output=True,
        text=True,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert f"{pycs[0]} matches" in proc.stderr


def test_prune_removes_envs_and_orphaned_bytecode(tmp_path: Path, store: Path) -> None:
    from stepline.components.environment import build_path
    from stepline.envs.paths import cache_dir

    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    built = build_path(tmp_path).built
    assert built is not None
    stored = list((cache_dir() / "pyc").glob("*/*.pyc"))
    assert stored  # six.pyc is shared through the store
    removed = prune(parse_duration("1s"), now=time.time() + 10)
    assert built.digest in {e.digest for e in removed} and not built.path.exists()
    assert not [p for p in stored if p.exists()]


def test_library_test_suites_are_not_compiled(tmp_path: Path) -> None:
    import platform
    import sys

    from stepline.envs.bytecode import compile_env

    site = tmp_path / "site-packages"
    (site / "pkg" / "tests").mkdir(parents=True)
    (site / "pkg" / "core.py").write_text("X = 1\n")
    (site / "pkg" / "tests" / "test_core.py").write_text("def test_x():\n    pass\n")
    linked, compiled = compile_env(site, Path(sys.executable), platform.python_version())
    assert (linked, compiled) == (0, 1)
    assert list((site / "pkg" / "__pycache__").glob("core.*.pyc"))
    assert not (site / "pkg" / "tests" / "__pycache__").exists()
