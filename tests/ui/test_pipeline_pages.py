"""Pipeline pages from real executions: the DAG's states, and what a cached run reused."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from tests.ui.demo_store import pipeline_project

import stepline
from stepline.backends import get_backend
from stepline.pipeline.run import run_pipeline
from stepline.pipeline.spec import load_pipeline
from stepline.ui import create_app


def _client() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette: "install httpx2"
        from fastapi.testclient import TestClient
    return TestClient(create_app(get_backend()))


def test_a_second_execution_shows_its_cache_hits(store: Path, tmp_path: Path) -> None:
    spec = pipeline_project(tmp_path)
    first = run_pipeline(load_pipeline(spec), jobs=2)
    second = run_pipeline(load_pipeline(spec, ["f=3"]), jobs=2)
    assert (first.status, second.status) == ("finished", "finished")
    c = _client()
    listing = c.get("/projects/demo/pipelines.json").json()
    assert [e["id"] for e in listing["executions"]] == [second.run_id, first.run_id]
    dag = c.get(f"/projects/demo/pipelines/{second.run_id}.json").json()
    states = {s["name"]: s["state"] for s in dag["steps"]}
    assert states == {
        "make": "cached",
        "side": "cached",
        "double": "finished",
        "report": "finished",
    }
    assert [s["name"] for s in dag["steps"]][:2] == ["make", "side"]  # upstream first
    assert {(e["source"], e["target"]) for e in dag["edges"]} == {
        ("make", "double"),
        ("double", "report"),
    }
    assert dag["live"] is False
    make = next(s for s in dag["steps"] if s["name"] == "make")
    original = first.steps["make"].run_id
    assert make["cached_from"] == original
    run = c.get(f"/projects/demo/runs/{make['run_id']}.json").json()
    assert run["run"]["state"] == "cached"
    assert run["reused"]["original"] == original
    assert run["reused"]["outputs"] == {"a.txt": "v0"}
    html = c.get(f"/projects/demo/runs/{make['run_id']}").text
    assert "Cached." in html and original in html
    page = c.get(f"/projects/demo/pipelines/{second.run_id}").text
    assert 'data-step="make" data-state="cached"' in page
    assert "hx-trigger" not in page  # a finished execution is not polled
    assert stepline.Api().run(make["run_id"]).info["cached_from"] == original
