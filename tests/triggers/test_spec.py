"""The `triggers:` section is checked when the pipeline loads, with the file and key named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("croniter")

from stepline.errors import SpecError
from stepline.pipeline.spec import load_pipeline

from .helpers import PROMOTE, write_pipeline


def _load(tmp_path: Path, triggers: Any) -> Any:
    return load_pipeline(write_pipeline(tmp_path, triggers))


def test_a_full_section_loads(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        {
            "debounce": 30,
            "on": {
                "new_sample": {"artifact": "sample.csv"},
                "nightly": {"schedule": "0 3 * * *", "overrides": ["train.bias=1"]},
                "drifted": {"drift": "model:prod", "threshold": 0.3, "every": 120},
            },
            **PROMOTE,
        },
    )
    t = spec.triggers
    assert [x.kind for x in t.on.values()] == ["artifact", "schedule", "drift"]
    assert t.on["nightly"].overrides == ("train.bias=1",)
    assert t.on["drifted"].threshold == 0.3 and t.debounce == 30
    assert t.promote.min_improvement == 0.5 and t.test.step == "score"
    # the section is not part of what a run records: the spec digest stays the same
    assert spec.digest == load_pipeline(write_pipeline(tmp_path, None)).digest


def test_a_bare_on_key_as_written_by_hand(tmp_path: Path) -> None:
    """YAML 1.1 (PyYAML) reads `on:` as the boolean true; the section still means `on`."""
    path = write_pipeline(tmp_path, None)
    path.write_text(path.read_text() + "triggers:\n  on:\n    nightly: {schedule: '0 3 * * *'}\n")
    assert load_pipeline(path).triggers.on["nightly"].target == "0 3 * * *"


@pytest.mark.parametrize(
    ("triggers", "message"),
    [
        ({"on": {"x": {"schedule": "0 3 * *"}}}, "triggers.on.x.schedule: '0 3 * *': a cron"),
        ({"on": {"x": {"schedule": "0 25 * * *"}}}, "triggers.on.x.schedule: '0 25 * * *': not"),
        ({"on": {"x": {}}}, "triggers.on.x: give exactly one of artifact:, schedule:, drift:"),
        (
            {"on": {"x": {"artifact": "a", "schedule": "0 3 * * *"}}},
            "(found artifact, schedule)",
        ),
        ({"on": {"x": {"artifact": "sample.csv:v1"}}}, "triggers.on.x.artifact: name the"),
        ({"on": {"x": {"artifact": "a", "every": 3}}}, "triggers.on.x: unknown key 'every'"),
        ({"on": {"x": {"drift": "model:prod", "threshold": 2}}}, "triggers.on.x.threshold"),
        ({"on": {}}, "triggers.on: name at least one trigger"),
        ({"on": {"x": {"artifact": "a"}}, "when": 1}, "triggers: unknown key 'when'"),
        (
            {"on": {"x": {"artifact": "a"}}, "test": {"step": "nope", "model_parameter": "m"}},
            "triggers.test.step: no step 'nope'",
        ),
        (
            {"on": {"x": {"artifact": "a"}}, "test": {"step": "score", "model_parameter": "m"}},
            "triggers.test.model_parameter: step 'score' sets no parameter 'm'",
        ),
        (
            {
                "on": {"x": {"artifact": "a"}},
                **PROMOTE,
                "promote": {"model": "nope", "metric": "mae"},
            },
            "triggers.promote.model: no step has 'nope' in its outputs",
        ),
        (
            {"on": {"x": {"artifact": "a"}}, "promote": {"model": "model", "metric": "mae"}},
            "triggers.promote: needs test:",
        ),
        (
            {
                "on": {"x": {"artifact": "a"}},
                **PROMOTE,
                "promote": {**PROMOTE["promote"], "mode": "up"},
            },
            "triggers.promote.mode: min or max",
        ),
    ],
)
def test_bad_sections_name_the_file_and_key(tmp_path: Path, triggers: Any, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        _load(tmp_path, triggers)
    text = str(exc.value)
    assert str(tmp_path / "pipeline.yaml") in text
    assert message in text
