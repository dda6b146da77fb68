"""`stepline artifacts put` says when the content is already a version, instead of a new line."""

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


def test_identical_put_prints_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "sample.csv"
    data.write_text("id,price\n1,100\n")
    put = ("artifacts", "put", str(data), "--name", "p/sample.csv", "--type", "raw_data")
    first = sl(*put).stdout
    assert "p/sample.csv:v0" in first and "unchanged" not in first
    again = sl(*put).stdout
    assert again.startswith("p/sample.csv:v0 unchanged (v0)"), again
    data.write_text("id,price\n1,100\n2,50\n")
    third = sl(*put, "--json").stdout
    assert json.loads(third)["created"] is True and json.loads(third)["ref"] == "p/sample.csv:v1"
    same = json.loads(sl(*put, "--json").stdout)
    assert same["created"] is False and same["ref"] == "p/sample.csv:v1"
    assert [a.version for a in stepline.Api().artifact_versions("p/sample.csv")] == ["v0", "v1"]


def test_the_artifact_tells_whether_it_made_a_version(tmp_path: Path) -> None:
    with stepline.init(project="p") as run:
        a = stepline.Artifact("x", type="t")
        with a.new_file("x.txt") as f:
            f.write("same")
        assert a.new_version is None
        run.log_artifact(a)
        b = stepline.Artifact("x", type="t")
        with b.new_file("x.txt") as f:
            f.write("same")
        run.log_artifact(b)
    assert a.new_version is True and b.new_version is False and b.version == "v0"
    assert stepline.Api().artifact("p/x:v0").new_version is None
