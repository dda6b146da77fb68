"""The `stepline` command, run as a user runs it (a real process), and through click's runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import stepline
from stepline.cli import cli


def sl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("stepline", path=os.path.dirname(sys.executable)) or "stepline"
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_put_show_get_alias_diff_lineage(tmp_path: Path) -> None:
    data = tmp_path / "sample.csv"
    data.write_text("id,price\n1,100\n")
    out = sl(
        "artifacts",
        "put",
        str(data),
        "--name",
        "nyc_airbnb/sample.csv",
        "--type",
        "raw_data",
        "--description",
        "raw",
        "--alias",
        "reference",
        "--json",
    )
    assert json.loads(out.stdout)["ref"] == "nyc_airbnb/sample.csv:v0"
    data.write_text("id,price\n1,100\n2,50\n")
    sl("artifacts", "put", str(data), "--name", "nyc_airbnb/sample.csv", "--type", "raw_data")
    shown = json.loads(sl("artifacts", "show", "nyc_airbnb/sample.csv:latest", "--json").stdout)
    assert shown["ref"] == "nyc_airbnb/sample.csv:v1" and list(shown["files"]) == ["sample.csv"]
    assert shown["logged_by"]
    root = sl(
        "artifacts", "get", "nyc_airbnb/sample.csv:reference", "--root", str(tmp_path / "got")
    ).stdout.strip()
    assert (Path(root) / "sample.csv").read_text() == "id,price\n1,100\n"
    sl("artifacts", "alias", "nyc_airbnb/sample.csv:v1", "prod")
    assert stepline.Api().artifact("nyc_airbnb/sample.csv:prod").version == "v1"
    sl("artifacts", "alias", "nyc_airbnb/sample.csv:v1", "prod", "--remove")
    changes = json.loads(
        sl(
            "artifacts", "diff", "nyc_airbnb/sample.csv:v0", "nyc_airbnb/sample.csv:v1", "--json"
        ).stdout
    )
    assert [(c["path"], c["change"]) for c in changes] == [("sample.csv", "changed")]
    graph = json.loads(sl("lineage", "nyc_airbnb/sample.csv:v0", "--format", "json").stdout)
    assert graph["root"] == "artifact:nyc_airbnb/sample.csv:v0"
    assert "graph LR" in sl("lineage", "nyc_airbnb/sample.csv:v0", "--format", "mermaid").stdout
    listing = json.loads(sl("artifacts", "ls", "--json").stdout)
    assert [(a["name"], a["version_count"]) for a in listing] == [("sample.csv", 2)]


def test_errors_are_one_line_with_what_is_valid(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("1")
    sl("artifacts", "put", str(data), "--name", "p/x.csv", "--type", "raw")
    proc = sl("artifacts", "show", "p/x.csv:prod", check=False)
    assert proc.returncode == 3  # not found
    assert (
        proc.stderr.strip() == "error: artifact 'x.csv' has no alias 'prod'; aliases: latest (v0)"
    )
    proc = sl("artifacts", "alias", "p/x.csv:v0", "bad/alias", check=False)
    assert proc.returncode == 2 and "not valid" in proc.stderr


def test_runs_ls_show_diff(tmp_path: Path) -> None:
    ids = []
    for mae in (2.0, 1.0):
        with stepline.init(
            project="p", job_type="train", config={"mae_target": mae}, reinit="create_new"
        ) as run:
            run.log({"mae": mae})
            ids.append(run.id)
    rows = json.loads(invoke("runs", "ls", "--project", "p", "--sort", "summary.mae", "--json"))
    assert [r["id"] for r in rows] == [ids[1], ids[0]]
    rows = json.loads(invoke("runs", "ls", "--filter", "summary.mae<1.5", "--json"))
    assert [r["id"] for r in rows] == [ids[1]]
    assert "mae" in invoke("runs", "ls")
    shown = json.loads(invoke("runs", "show", ids[0], "--history", "--json"))
    assert shown["history"][0]["mae"] == 2.0
    out = json.loads(invoke("diff", ids[0], ids[1], "--json"))
    assert {r["key"] for r in out["config"] if not r["same"]} == {"mae_target"}


def test_gc_keeps_aliased_and_fsck_is_clean(tmp_path: Path) -> None:
    f = tmp_path / "d.txt"
    for i in range(4):
        f.write_text(f"version {i}")
        aliases = ["keep"] if i == 0 else []
        sl(
            "artifacts",
            "put",
            str(f),
            "--name",
            "p/d",
            "--type",
            "t",
            *[arg for a in aliases for arg in ("--alias", a)],
        )
    dry = json.loads(invoke("gc", "--keep-last", "1", "--dry-run", "--json"))
    assert dry["versions"] == ["p/d:v1", "p/d:v2"]
    assert len(stepline.Api().artifact_versions("p/d")) == 4
    from stepline import backends
    from stepline.backends.gc import gc

    report = gc(backends.get_backend(), keep_last=1, grace_seconds=0)
    assert report.versions == ["p/d:v1", "p/d:v2"] and report.objects == 2
    assert [a.version for a in stepline.Api().artifact_versions("p/d")] == ["v0", "v3"]
    assert "clean" in invoke("fsck")
    assert Path(stepline.Api().artifact("p/d:keep").file(tmp_path / "k")).read_text() == "version 0"


def test_registry_commands(tmp_path: Path) -> None:
    f = tmp_path / "m.bin"
    f.write_text("model")
    sl("artifacts", "put", str(f), "--name", "p/model_export", "--type", "model_export")
    out = invoke("models", "register", "p/model_export:v0", "rental_prices", "--alias", "prod")
    assert "rental_prices:v1 -> p/model_export:v0" in out
    assert json.loads(invoke("models", "ls", "--json"))[0]["aliases"] == {"prod": 1}
    from stepline import registry

    assert registry.resolve("rental_prices@prod").ref == "p/model_export:v0"
    with pytest.raises(stepline.SteplineError, match="no alias 'staging'"):
        registry.resolve("rental_prices@staging")


def test_help_has_examples() -> None:
    for group in ("runs", "artifacts", "models"):
        assert "Example" in invoke(group, "--help") or "Usage" in invoke(group, "--help")
    assert "Example: stepline artifacts put" in invoke("artifacts", "put", "--help")
