"""`stepline gc`: the grace period is explained, and what a kept version was made from stays."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import stepline


def sl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("stepline", path=os.path.dirname(sys.executable)) or "stepline"
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def _course_lineage(tmp_path: Path) -> None:
    """raw v0 → clean v0 → model v0 (prod); then raw v1, v2 and clean v1 that nothing promoted."""
    data = tmp_path / "raw.csv"
    for i in range(3):
        data.write_text(f"id,price\n{i},100\n")
        with stepline.init(project="p", job_type="download") as run:
            art = stepline.Artifact("raw.csv", type="raw_data")
            art.add_file(str(data))
            run.log_artifact(art)
        if i == 0:
            with stepline.init(project="p", job_type="clean") as run:
                run.use_artifact("raw.csv:v0").file(str(tmp_path / "in"))
                art = stepline.Artifact("clean.csv", type="clean_data")
                with art.new_file("clean.csv") as f:
                    f.write("id,price\n0,100\n")
                run.log_artifact(art)
            with stepline.init(project="p", job_type="train") as run:
                run.use_artifact("clean.csv:v0")
                art = stepline.Artifact("model", type="model_export")
                with art.new_file("model.bin") as f:
                    f.write("weights")
                run.log_artifact(art, aliases=["prod"])
    with stepline.init(project="p", job_type="clean") as run:
        run.use_artifact("raw.csv:v2")
        art = stepline.Artifact("clean.csv", type="clean_data")
        with art.new_file("clean.csv") as f:
            f.write("id,price\n2,100\n")
        run.log_artifact(art)
    # an unaliased, unregistered v0 whose newer versions push it out: nothing keeps it
    for text in ("a", "b"):
        with stepline.init(project="p", job_type="other") as run:
            art = stepline.Artifact("scratch", type="scratch")
            with art.new_file("s.txt") as f:
                f.write(text)
            run.log_artifact(art)


def test_keep_last_keeps_the_lineage_of_an_aliased_version(tmp_path: Path) -> None:
    _course_lineage(tmp_path)
    proc = sl("gc", "--keep-last", "1")
    assert "removed version p/raw.csv:v1" in proc.stdout
    assert "removed version p/scratch:v0" in proc.stdout
    assert "kept p/raw.csv:v0" in proc.stdout and "p/model:v0 (prod)" in proc.stdout
    assert "kept p/clean.csv:v0" in proc.stdout
    assert "--no-keep-lineage" in proc.stdout
    api = stepline.Api()
    assert [a.version for a in api.artifact_versions("p/raw.csv")] == ["v0", "v2"]
    assert [a.version for a in api.artifact_versions("p/clean.csv")] == ["v0", "v1"]
    assert [a.version for a in api.artifact_versions("p/scratch")] == ["v1"]
    assert Path(api.artifact("p/raw.csv:v0").file(str(tmp_path / "got"))).read_text() == (
        "id,price\n0,100\n"
    )


def test_no_keep_lineage_drops_the_upstream_versions(tmp_path: Path) -> None:
    _course_lineage(tmp_path)
    report = json.loads(sl("gc", "--keep-last", "1", "--no-keep-lineage", "--json").stdout)
    assert set(report["versions"]) == {
        "p/raw.csv:v0",
        "p/raw.csv:v1",
        "p/clean.csv:v0",
        "p/scratch:v0",
    }
    assert report["kept"] == []
    assert [a.version for a in stepline.Api().artifact_versions("p/raw.csv")] == ["v2"]


def test_registered_versions_keep_their_lineage_too(tmp_path: Path) -> None:
    _course_lineage(tmp_path)
    api = stepline.Api()
    api.remove_alias("p/model:prod", "prod")
    sl("models", "register", "p/model:v0", "rental_prices")
    report = json.loads(sl("gc", "--keep-last", "1", "--dry-run", "--json").stdout)
    kept = {k["ref"]: k["reason"] for k in report["kept"]}
    assert "p/raw.csv:v0" in kept and "registered" in kept["p/raw.csv:v0"]
    assert "p/raw.csv:v0" not in report["versions"]


def test_the_grace_period_is_explained_and_can_be_changed(tmp_path: Path) -> None:
    _course_lineage(tmp_path)
    first = sl("gc", "--keep-last", "1")
    assert "removed 2 versions, 0 objects" in first.stdout
    assert "younger than the grace period (1h)" in first.stdout
    assert "--grace 0" in first.stdout
    young = json.loads(sl("gc", "--dry-run", "--json").stdout)
    assert young["young_objects"] == 2 and young["grace_seconds"] == 3600
    second = sl("gc", "--grace", "0")
    assert "removed 0 versions, 2 objects" in second.stdout
    assert "younger than" not in second.stdout
    assert "grace" in sl("gc", "--help").stdout.lower()
