"""The `resources:` MLproject extension: parsed by the one MLproject parser, with errors that
name the file, the line and the key; an entry point's keys override the top level's, and a
pipeline step's override the component's."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline.components import prepare
from stepline.components.mlproject import load_project
from stepline.components.resources import merge_resources
from stepline.errors import SpecError
from stepline.pipeline.ray_executor import infeasible, ray_options

PROJECT = """name: train
resources: {cpus: 2, memory: 4GB}
entry_points:
  main:
    command: echo main
  big:
    resources:
      cpus: 4
      gpus: 1
    command: echo big
"""


def test_top_level_and_entry_point_resources(tmp_path: Path) -> None:
    (tmp_path / "MLproject").write_text(PROJECT)
    project = load_project(tmp_path)
    assert project.resources == {"cpus": 2.0, "memory": 4e9}
    assert project.resources_of(project.entry_point("main")) == {"cpus": 2.0, "memory": 4e9}
    big = project.entry_point("big")
    assert big.resources == {"cpus": 4.0, "gpus": 1.0}
    assert project.resources_of(big) == {"cpus": 4.0, "gpus": 1.0, "memory": 4e9}
    # what a prepared step carries to the executor
    assert prepare(tmp_path, "big").resources == {"cpus": 4.0, "gpus": 1.0, "memory": 4e9}
    (tmp_path / "run.py").write_text("print(1)\n")
    assert prepare(tmp_path, "run.py").resources == {"cpus": 2.0, "memory": 4e9}


def test_without_resources_nothing_is_asked(tmp_path: Path) -> None:
    (tmp_path / "MLproject").write_text("name: x\nentry_points:\n  main:\n    command: echo\n")
    assert prepare(tmp_path).resources == {}
    assert load_project(tmp_path / "..").resources == {}  # a folder without an MLproject


def test_step_keys_override_the_component_and_map_to_ray() -> None:
    merged = merge_resources({"cpus": 2.0, "memory": 4e9}, {"cpus": 1.0})
    assert merged == {"cpus": 1.0, "memory": 4e9}
    assert ray_options(merged) == {
        "max_retries": 0,
        "retry_exceptions": False,
        "num_cpus": 1.0,
        "memory": 4_000_000_000,
    }


def test_an_impossible_component_resource_names_its_mlproject() -> None:
    why = infeasible({"gpus": 1.0}, [{"CPU": 1.0}], {"gpus": "/c/train/MLproject"})
    assert why is not None
    assert "resources.gpus: 1 requested" in why and "lower it in /c/train/MLproject" in why
    nodes = [{"CPU": 0.5, "memory": 9e9}, {"CPU": 2.0, "memory": 1e9}]
    why = infeasible({"cpus": 1.0, "memory": 8e9}, nodes, {"memory": "/c/train/MLproject"})
    assert why is not None and "cpus 1, memory 8e+09 together" in why
    assert "lower them in pipeline.yaml and /c/train/MLproject" in why


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "name: a\nresources: {cpus: -1}\nentry_points:\n  main:\n    command: echo\n",
            2,
            ": resources: cpus -1 must be a number >= 0, e.g. cpus: 2",
        ),
        (
            "name: a\nresources: [2]\nentry_points:\n  main:\n    command: echo\n",
            2,
            ": resources must be a mapping, e.g. resources: {cpus: 2, gpus: 1, memory: 4GB}",
        ),
        (
            "name: a\nentry_points:\n  main:\n    command: echo\n    resources:\n"
            "      memory: 4 parsecs\n",
            5,
            ": entry_points.main: resources: memory '4 parsecs' is not a size; use e.g. 4GB",
        ),
        (
            "name: a\nentry_points:\n  main:\n    resources: {gpu: 1}\n    command: echo\n",
            4,
            ": entry_points.main: resources: unknown key 'gpu'; use cpus, gpus, memory",
        ),
        (
            "name: a\nentry_points:\n  main:\n    resources: {gpus: yes}\n    command: echo\n",
            4,
            ": entry_points.main: resources: gpus True must be a number >= 0, e.g. gpus: 2",
        ),
    ],
)
def test_bad_resources_name_the_file_line_and_key(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    (tmp_path / "MLproject").write_text(text)
    with pytest.raises(SpecError) as info:
        load_project(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'MLproject'}:{line}:")
    assert message in str(info.value)
