"""A file is served through what holds it in the project asked for, never by digest alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.ui.demo_store import PROJECT

import stepline

P = f"/projects/{PROJECT}"


def test_artifact_files_and_run_media_are_served_through_their_project(
    client: Any, demo: Any
) -> None:
    page = client.get(f"{P}/artifacts/clean_sample.csv?version=v0").text
    assert "/files/v0?path=notes.txt" in page
    notes = client.get(f"{P}/artifacts/clean_sample.csv/files/v0?path=notes.txt")
    assert notes.status_code == 200 and notes.content
    missing = client.get(
        f"{P}/artifacts/clean_sample.csv/files/v0?path=nope.txt",
        headers={"accept": "application/json"},
    )
    assert missing.status_code == 404 and "nope.txt" in missing.json()["error"]
    eda = client.get(f"{P}/runs/{demo.demo.eda_run}.json").json()
    image = next(m for m in eda["media"] if m["_type"] == "image-file")
    url = f"{P}/runs/{demo.demo.eda_run}/media/{image['digest']}"
    assert url in client.get(f"{P}/runs/{demo.demo.eda_run}").text
    png = client.get(url)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # a digest this run did not log is refused, even one the store holds
    other = client.get(f"{P}/artifacts/clean_sample.csv.json?version=v0").json()["files"][0]
    assert client.get(f"{P}/runs/{demo.demo.eda_run}/media/{other['digest']}").status_code == 404


def test_another_projects_run_and_files_are_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from stepline import backends
    from stepline.backends.local import LocalBackend
    from stepline.ui import create_app

    monkeypatch.setenv("STEPLINE_DIR", str(tmp_path / ".stepline"))
    monkeypatch.chdir(tmp_path)
    backends.reset()
    secret = tmp_path / "secret.txt"
    secret.write_text("project b only\n")
    run = stepline.init(project="b", reinit="create_new")
    art = stepline.Artifact("secret", type="data")
    art.add_file(str(secret))
    run.log_artifact(art)
    run.finish()
    stepline.init(project="a", reinit="create_new").finish()
    backends.reset()
    backend = LocalBackend(tmp_path / ".stepline")
    try:
        with TestClient(create_app(backend)) as c:
            own = c.get("/projects/b/artifacts/secret/files/v0?path=secret.txt")
            assert own.status_code == 200 and own.text == "project b only\n"
            assert c.get("/projects/a/artifacts/secret/files/v0?path=secret.txt").status_code == 404
            assert c.get(f"/projects/a/runs/{run.id}").status_code == 404
            digest = backend.resolve("b", "secret", "v0").manifest.entries["secret.txt"].digest
            assert c.get(f"/projects/a/objects/{digest}").status_code == 404
    finally:
        backend.close()
