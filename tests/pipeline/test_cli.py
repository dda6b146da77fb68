"""The pipeline commands through click, with the real core and runner (the defaults)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import stepline
from stepline.cli.pipeline import cli, run_cmd, why_cmd

from .helpers import chain, sweep_pipeline


def test_run_summary_and_exit_codes(tmp_path: Path) -> None:
    path = chain(tmp_path)
    cli_runner = CliRunner()
    res = cli_runner.invoke(run_cmd, [str(path), "f=3"])
    assert res.exit_code == 0, res.output
    assert "execution" in res.output and "finished" in res.output and "double" in res.output
    res = cli_runner.invoke(run_cmd, [str(path), "f=3", "--json"])
    data = json.loads(res.stdout)
    assert data["status"] == "finished"
    assert {s["state"] for s in data["steps"].values()} == {"cached"}
    res = cli_runner.invoke(run_cmd, [str(path), "nope.key=1"])
    assert res.exit_code == 2 and "no key 'nope.key'" in res.output
    res = cli_runner.invoke(run_cmd, [str(path), "--from", "zzz"])
    assert res.exit_code == 2 and "--from zzz: no such step" in res.output
    (tmp_path / "components" / "side" / "MLproject").write_text(
        "entry_points:\n  main:\n    command: exit 4\n"
    )
    res = cli_runner.invoke(run_cmd, [str(path), "f=3", "-s", "side,make"])
    assert res.exit_code == 1 and "exit code 4" in res.output


def test_multirun_is_one_group_of_executions(tmp_path: Path) -> None:
    path = chain(tmp_path)
    res = CliRunner().invoke(run_cmd, [str(path), "-m", "f=1,2", "v=7", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [e["overrides"] for e in data["executions"]] == [["f=1", "v=7"], ["f=2", "v=7"]]
    assert len({e["execution"] for e in data["executions"]}) == 2
    assert len({e["group"] for e in data["executions"]}) == 1


def test_sweep_optimize_and_alias_best(tmp_path: Path) -> None:
    path = sweep_pipeline(tmp_path)
    args = ["-m", "m.depth=1,5", "m.trees=100,300", "--optimize", "summary.mae:min"]
    res = CliRunner().invoke(run_cmd, [str(path), *args, "--alias-best", "prod", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    best = data["executions"][data["best"]]
    assert best["overrides"] == ["m.depth=5", "m.trees=100"] and best["value"] == 3.0
    version = best["steps"]["train"]["outputs"]["model"]
    assert data["aliased"] == [f"demo/model:{version} -> prod"]
    prod = stepline.Api().artifact("demo/model:prod")
    assert prod.version == version and prod.logged_by().id == best["steps"]["train"]["run_id"]
    res = CliRunner().invoke(run_cmd, [str(path), *args])
    assert res.exit_code == 0, res.output
    assert "m.depth=5" in res.output and "mae" in res.output


def test_show_and_why(tmp_path: Path) -> None:
    path = chain(tmp_path)
    cli_runner = CliRunner()
    res = cli_runner.invoke(cli, ["show", str(path)])
    assert res.exit_code == 0, res.output
    assert "make" in res.output and "miss" in res.output
    res = cli_runner.invoke(cli, ["show", str(path), "--format", "mermaid"])
    assert res.output.startswith("flowchart LR")
    res = cli_runner.invoke(run_cmd, [str(path), "--json"])
    assert res.exit_code == 0, res.output
    make_run = json.loads(res.stdout)["steps"]["make"]["run_id"]
    assert cli_runner.invoke(run_cmd, [str(path), "f=5"]).exit_code == 0
    res = cli_runner.invoke(cli, ["show", str(path), "--format", "json"])
    data = json.loads(res.output)
    assert data["steps"]["double"]["upstream"] == ["make"]
    assert data["steps"]["make"]["cache"] == f"hit {make_run}"
    assert data["levels"][0] == ["make", "side"]
    res = cli_runner.invoke(cli, ["show", str(path), "--format", "dot"])
    assert f"hit {make_run}" in res.output
    res = cli_runner.invoke(why_cmd, ["double", "--path", str(path)])
    assert res.exit_code == 0, res.output
    assert "parameters.factor" in res.output and "2" in res.output and "5" in res.output
    res = cli_runner.invoke(why_cmd, ["make", "--path", str(path), "--json"])
    data = json.loads(res.output)
    assert data["state"] == "cached" and data["changes"] == []
    res = cli_runner.invoke(why_cmd, ["nothing", "--path", str(path)])
    assert res.exit_code == 2 and "no recorded pipeline run" in res.output
