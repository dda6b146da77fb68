"""pipeline.yaml validation and execution read a component's MLproject the same way.

The file counts when its name is `MLproject` in any case (MLflow's rule, `_find_mlproject`);
`MLproject.yaml` is not an MLproject, for `stepline run` as for `stepline.projects.run`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stepline.cli import cli as stepline_cli
from stepline.components.mlproject import find_mlproject, load_project
from stepline.errors import SpecError, UnknownEntryPoint
from stepline.pipeline.course import is_course_root
from stepline.pipeline.spec import load_pipeline

from .helpers import component, pipeline


def _rename(comp: Path, name: str) -> None:
    (comp / "MLproject").rename(comp / name)


def test_a_lowercase_mlproject_validates_and_runs(tmp_path: Path) -> None:
    comp = component(tmp_path, "make", 'echo made > "$STEPLINE_OUT/made.txt"')
    _rename(comp, "mlproject")
    path = pipeline(tmp_path, {"make": {"component": "components/make", "outputs": ["made.txt"]}})
    spec = load_pipeline(path)
    assert spec.steps["make"].outputs == ("made.txt",)
    assert find_mlproject(comp) == comp / "mlproject"
    res = CliRunner().invoke(stepline_cli, ["run", str(path)])
    assert res.exit_code == 0, res.output
    assert "finished" in res.output


def test_mlproject_yaml_is_no_mlproject_for_validation_or_execution(tmp_path: Path) -> None:
    comp = component(tmp_path, "make", 'echo made > "$STEPLINE_OUT/made.txt"')
    _rename(comp, "MLproject.yaml")
    path = pipeline(tmp_path, {"make": {"component": "components/make"}})
    with pytest.raises(SpecError) as err:
        load_pipeline(path)
    message = str(err.value)
    assert "pipeline.yaml:" in message and "steps.make.component: no MLproject in" in message
    with pytest.raises(UnknownEntryPoint, match="no MLproject in"):
        load_project(comp).entry_point("main")
    res = CliRunner().invoke(stepline_cli, ["run", str(path)])
    assert res.exit_code == 2 and "no MLproject in" in res.output
    assert not is_course_root(comp)


def test_the_mlproject_is_fully_checked_before_anything_runs(tmp_path: Path) -> None:
    comp = component(tmp_path, "make", "true")
    (comp / "MLproject").write_text(
        "entry_points:\n  main:\n    parameters:\n      x: floaty\n    command: a\n"
    )
    path = pipeline(tmp_path, {"make": {"component": "components/make"}})
    with pytest.raises(SpecError, match=r"MLproject:4:7: entry_points\.main\.parameters\.x"):
        load_pipeline(path)


def test_pipeline_errors_name_line_and_column(tmp_path: Path) -> None:
    component(tmp_path, "make", "true")
    path = tmp_path / "pipeline.yaml"
    path.write_text("name: demo\nsteps:\n  make:\n    component: components/make\n    uses: x\n")
    with pytest.raises(SpecError) as err:
        load_pipeline(path)
    assert str(err.value).startswith(f"{path}:5:5: steps.make.uses: unknown key; a step has")
    path.write_text("steps:\n  - name: make\n    component: components/nothere\n")
    with pytest.raises(SpecError, match=r"pipeline\.yaml:3:5: steps\[0\]\.component: "):
        load_pipeline(path)
    path.write_text("steps:\n  make: {component: [a\n")
    with pytest.raises(SpecError, match=r"pipeline\.yaml:3:1: not valid YAML"):
        load_pipeline(path)
