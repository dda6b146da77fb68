"""pipeline.yaml loading: interpolation, overrides, and errors that name the step and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from stepline.errors import SpecError
from stepline.pipeline.spec import apply_overrides, load_pipeline

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pipelines" / "etl"


@pytest.fixture
def etl(tmp_path: Path) -> Path:
    dest = tmp_path / "etl"
    shutil.copytree(FIXTURE, dest)
    return dest


def edit(root: Path, change) -> Path:
    path = root / "pipeline.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_loads_and_interpolates(etl: Path) -> None:
    spec = load_pipeline(etl)
    assert spec.name == "etl" and spec.project == "nyc_airbnb"
    assert list(spec.steps) == ["download", "basic_cleaning", "data_check", "data_split"]
    clean = spec.steps["basic_cleaning"]
    assert clean.parameters["min_price"] == "10"
    assert clean.component == str((etl / "components" / "clean").resolve())
    assert [str(i) for i in clean.inputs] == ["sample.csv:latest"]
    assert spec.steps["data_split"].parameters["test_size"] == "0.2"


def test_overrides_apply_before_interpolation(etl: Path) -> None:
    spec = load_pipeline(etl, ["etl.min_price=20", "+etl.extra=yes"])
    assert spec.steps["basic_cleaning"].parameters["min_price"] == "20"
    assert spec.config["etl"]["extra"] is True
    assert spec.digest != load_pipeline(etl).digest
    assert load_pipeline(etl).digest == load_pipeline(etl).digest


def test_unknown_override_key_is_an_error(etl: Path) -> None:
    with pytest.raises(SpecError, match=r"no key 'etl\.min_prise'.*\+etl\.min_prise=20"):
        load_pipeline(etl, ["etl.min_prise=20"])
    with pytest.raises(SpecError, match=r"expected key\.path=value"):
        load_pipeline(etl, ["etl.min_price"])


def test_remove_override() -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"a": {"b": 1, "c": 2}})
    apply_overrides(cfg, ["~a.b", "a.c=[1, 2]"])
    assert OmegaConf.to_container(cfg) == {"a": {"c": [1, 2]}}


def test_bad_interpolation_names_step_and_key(etl: Path) -> None:
    edit(etl, lambda d: d["steps"]["basic_cleaning"]["parameters"].update(min_price="${etl.nope}"))
    with pytest.raises(
        SpecError,
        match=r"pipeline\.yaml:\d+:\d+: steps\.basic_cleaning\.parameters\.min_price: .*etl\.nope",
    ):
        load_pipeline(etl)


def test_unknown_keys(etl: Path) -> None:
    edit(etl, lambda d: d["steps"]["download"].update(output=["x"]))
    with pytest.raises(
        SpecError, match=r"pipeline\.yaml:\d+:5: steps\.download\.output: unknown key"
    ):
        load_pipeline(etl)
    edit(etl, lambda d: (d["steps"]["download"].pop("output"), d.update(stepz=1)))
    with pytest.raises(SpecError, match=r"pipeline\.yaml:\d+:1: stepz: unknown key"):
        load_pipeline(etl)


def test_unknown_component_entry_point_and_parameter(etl: Path) -> None:
    path = etl / "pipeline.yaml"
    original = path.read_text()
    edit(etl, lambda d: d["steps"]["download"].update(component="components/nothere"))
    with pytest.raises(
        SpecError, match=r"steps\.download\.component: 'components/nothere': no directory"
    ):
        load_pipeline(etl)
    path.write_text(original)
    edit(etl, lambda d: d["steps"]["download"].update(entry_point="train"))
    with pytest.raises(
        SpecError, match=r"steps\.download\.entry_point: .*no entry point 'train'; declared: main"
    ):
        load_pipeline(etl)
    path.write_text(original)
    edit(etl, lambda d: d["steps"]["download"]["parameters"].update(smaple="x"))
    with pytest.raises(
        SpecError, match=r"steps\.download\.parameters\.smaple: .*declared: artifact_name"
    ):
        load_pipeline(etl)
    path.write_text(original)
    edit(etl, lambda d: d["steps"]["download"]["parameters"].pop("sample"))
    with pytest.raises(SpecError, match=r"steps\.download\.parameters\.sample: required by"):
        load_pipeline(etl)


def test_git_uri_component_is_kept(etl: Path) -> None:
    uri = "https://github.com/example/components#get_data"
    edit(etl, lambda d: d["steps"]["download"].update(component=uri))
    spec = load_pipeline(etl)
    assert spec.steps["download"].component == uri
    assert not spec.steps["download"].is_local


def test_cycle_is_named(etl: Path) -> None:
    edit(etl, lambda d: d["steps"]["download"].update(after=["data_split"]))
    with pytest.raises(SpecError, match="cycle in pipeline steps: download -> basic_cleaning"):
        load_pipeline(etl)


def test_duplicate_output_and_bad_refs(etl: Path) -> None:
    path = etl / "pipeline.yaml"
    original = path.read_text()
    edit(etl, lambda d: d["steps"]["data_split"].update(outputs=["sample.csv"]))
    with pytest.raises(
        SpecError,
        match=r"steps\.data_split\.outputs\[0\]: output 'sample.csv' is also produced by step 'download'",
    ):
        load_pipeline(etl)
    path.write_text(original)
    edit(etl, lambda d: d["steps"]["data_split"].update(inputs=["a:b:c"]))
    with pytest.raises(
        SpecError, match=r"steps\.data_split\.inputs\[0\]: artifact reference 'a:b:c' is malformed"
    ):
        load_pipeline(etl)
    path.write_text(original)
    edit(etl, lambda d: d["steps"]["data_split"].update(after=["nope"]))
    with pytest.raises(SpecError, match=r"step 'data_split': after: 'nope' is not a step"):
        load_pipeline(etl)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no pipeline\.yaml"):
        load_pipeline(tmp_path)


def test_own_project_prefix_links_steps(etl: Path) -> None:
    edit(
        etl, lambda d: d["steps"]["basic_cleaning"].update(inputs=["nyc_airbnb/sample.csv:latest"])
    )
    spec = load_pipeline(etl)
    assert [str(i) for i in spec.steps["basic_cleaning"].inputs] == ["sample.csv:latest"]
    from stepline.pipeline.dag import build_dag

    assert build_dag(spec.steps).upstream["basic_cleaning"] == {"download"}
