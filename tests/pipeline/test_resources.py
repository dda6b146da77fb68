"""Step `resources:` in pipeline.yaml, and Ray kept out of everything but its executor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stepline.errors import SpecError
from stepline.pipeline.resources import parse_resources, parse_size
from stepline.pipeline.spec import load_pipeline

from .helpers import component, pipeline


def test_sizes_and_counts() -> None:
    assert parse_size("4GB", "x") == 4 * 10**9
    assert parse_size("4GiB", "x") == 4 * 2**30
    assert parse_size("512 MiB", "x") == 512 * 2**20
    assert parse_size(1000, "x") == 1000
    assert parse_resources({"cpus": 0.5, "gpus": "1"}, "x") == {"cpus": 0.5, "gpus": 1.0}
    assert parse_resources(None, "x") == {}


def test_resources_leave_the_spec_digest_of_other_pipelines_alone(tmp_path: Path) -> None:
    component(tmp_path, "a", 'echo a > "$STEPLINE_OUT/a.txt"', {})
    path = pipeline(tmp_path, {"a": {"component": "components/a", "outputs": ["a.txt"]}})
    spec = load_pipeline(path)
    assert "resources" not in spec.steps["a"].to_dict() and spec.steps["a"].resources == {}


def test_bad_resources_are_spec_errors(tmp_path: Path) -> None:
    component(tmp_path, "a", 'echo a > "$STEPLINE_OUT/a.txt"', {})
    cases = {
        "memory": ({"memory": "4 parsecs"}, "memory '4 parsecs' is not a size"),
        "cpus": ({"cpus": -1}, "cpus -1 must be a number >= 0"),
        "key": ({"gpu": 1}, "unknown key 'gpu'; use cpus, gpus, memory"),
        "shape": ([2], "resources must be a mapping"),
    }
    for resources, message in cases.values():
        path = pipeline(
            tmp_path,
            {"a": {"component": "components/a", "outputs": ["a.txt"], "resources": resources}},
        )
        with pytest.raises(SpecError) as info:
            load_pipeline(path)
        assert message in str(info.value) and "steps.a: resources" in str(info.value)
        assert str(path) in str(info.value)


def test_retries_are_a_small_whole_number(tmp_path: Path) -> None:
    component(tmp_path, "a", 'echo a > "$STEPLINE_OUT/a.txt"', {})
    step = {"component": "components/a", "outputs": ["a.txt"]}
    spec = load_pipeline(pipeline(tmp_path, {"a": {**step, "retries": 2}}))
    assert spec.steps["a"].retries == 2 and spec.steps["a"].to_dict()["retries"] == 2
    assert load_pipeline(pipeline(tmp_path, {"a": step})).steps["a"].retries == 0
    for bad in (-1, 11, 1.5, True, "twice"):
        path = pipeline(tmp_path, {"a": {**step, "retries": bad}})
        with pytest.raises(SpecError) as info:
            load_pipeline(path)
        assert "must be a whole number from 0 to 10" in str(info.value), bad
        assert str(path) in str(info.value)


def test_core_never_imports_ray_and_missing_ray_names_the_extra() -> None:
    code = (
        "import sys\n"
        "import stepline, stepline.cli, stepline.pipeline.run, stepline.pipeline.sweep\n"
        "from stepline.cli import pipeline\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
        "sys.modules['ray'] = None  # as if not installed\n"
        "from stepline.pipeline.ray_executor import RayExecutor\n"
        "try:\n"
        "    RayExecutor(None)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert proc.returncode == 0, proc.stderr
    assert "MissingExtra" in proc.stdout and "pip install 'stepline[ray]'" in proc.stdout
