"""`${oc.env:...}` in pipeline.yaml: the step receives the value, the store keeps only the text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import stepline
from stepline.pipeline.cache import why
from stepline.pipeline.run import run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.pipeline.tracking import ComponentsRunner, CoreTracker

from .helpers import component, pipeline

SECRET = "s3cr3t-Tok3n-4f9a1c"


def _write(root: Path) -> Path:
    component(root, "fetch", 'printf %s "{token}" > "$STEPLINE_OUT/got.txt"', {"token": None})
    component(root, "greet", 'printf %s "{who}" > "$STEPLINE_OUT/hi.txt"', {"who": None})
    return pipeline(
        root,
        {
            "fetch": {
                "component": "components/fetch",
                "parameters": {"token": "${api.token}"},
                "outputs": ["got.txt"],
            },
            "greet": {
                "component": "components/greet",
                "parameters": {"who": "Bearer ${oc.env:STEPLINE_TEST_TOKEN}"},
                "outputs": ["hi.txt"],
            },
        },
        {"api": {"token": "${oc.env:STEPLINE_TEST_TOKEN}", "url": "https://x"}},
    )


def _go(path: Path):
    return run_pipeline(load_pipeline(path), runner=ComponentsRunner(), tracker=CoreTracker())


def _database_dump(store: Path) -> str:
    with sqlite3.connect(store / "stepline.db") as db:
        return "\n".join(db.iterdump())


def test_env_interpolation_is_recorded_as_text_and_passed_as_value(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPLINE_TEST_TOKEN", SECRET)
    result = _go(_write(tmp_path))
    assert result.ok, {n: (s.state, s.reason) for n, s in result.steps.items()}

    api = stepline.Api()
    # the steps received the resolved value
    assert Path(api.artifact("demo/got.txt:latest").file()).read_text() == SECRET
    assert Path(api.artifact("demo/hi.txt:latest").file()).read_text() == f"Bearer {SECRET}"

    # the store kept the interpolation, never the value
    execution = api.run(result.run_id)
    assert execution.config["api"] == {"token": "${oc.env:STEPLINE_TEST_TOKEN}", "url": "https://x"}
    fetch = api.run(result.steps["fetch"].run_id)
    assert fetch.config == {"token": "${oc.env:STEPLINE_TEST_TOKEN}"}
    assert "${oc.env:STEPLINE_TEST_TOKEN}" in fetch.info["command"]
    assert fetch.info["cache_fields"]["parameters"] == {"token": "${oc.env:STEPLINE_TEST_TOKEN}"}
    greet = api.run(result.steps["greet"].run_id)
    assert greet.config == {"who": "Bearer ${oc.env:STEPLINE_TEST_TOKEN}"}
    assert result.config["api"]["token"] == "${oc.env:STEPLINE_TEST_TOKEN}"
    dump = _database_dump(store)
    assert "oc.env:STEPLINE_TEST_TOKEN" in dump
    assert SECRET not in dump


def test_a_changed_env_value_reruns_the_step_and_why_names_it(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path)
    monkeypatch.setenv("STEPLINE_TEST_TOKEN", SECRET)
    assert _go(path).ok
    again = _go(path)
    assert {s.state for s in again.steps.values()} == {"cached"}

    monkeypatch.setenv("STEPLINE_TEST_TOKEN", SECRET + "-rotated")
    rotated = _go(path)
    assert {n: s.state for n, s in rotated.steps.items()} == {
        "fetch": "finished",
        "greet": "finished",
    }
    report = why(CoreTracker(), "demo", "fetch")
    assert [c.key for c in report.changes] == ["env_values.token"]
    assert SECRET not in str(report.changes)
    assert SECRET not in _database_dump(store)
