"""The pipeline commands through click, with the real core and runner (the defaults)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import stepline
from stepline.cli import cli as stepline_cli

from .helpers import chain, sweep_pipeline


def test_run_summary_and_exit_codes(tmp_path: Path) -> None:
    path = chain(tmp_path)
    cli_runner = CliRunner()
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "f=3"])
    assert res.exit_code == 0, res.output
    assert "execution" in res.output and "finished" in res.output and "double" in res.output
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "f=3", "--json"])
    data = json.loads(res.stdout)
    assert data["status"] == "finished"
    assert {s["state"] for s in data["steps"].values()} == {"cached"}
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "nope.key=1"])
    assert res.exit_code == 2 and "no key 'nope.key'" in res.output
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "--from", "zzz"])
    assert res.exit_code == 2 and "--from zzz: no such step" in res.output
    (tmp_path / "components" / "side" / "MLproject").write_text(
        "entry_points:\n  main:\n    command: exit 4\n"
    )
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "f=3", "-s", "side,make"])
    assert res.exit_code == 1 and "exit code 4" in res.output


def test_multirun_is_one_group_of_executions(tmp_path: Path) -> None:
    path = chain(tmp_path)
    res = CliRunner().invoke(stepline_cli, ["run", str(path), "-m", "f=1,2", "v=7", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [e["overrides"] for e in data["executions"]] == [["f=1", "v=7"], ["f=2", "v=7"]]
    assert len({e["execution"] for e in data["executions"]}) == 2
    assert len({e["group"] for e in data["executions"]}) == 1


def test_sweep_optimize_and_alias_best(tmp_path: Path) -> None:
    path = sweep_pipeline(tmp_path)
    args = ["-m", "m.depth=1,5", "m.trees=100,300", "--optimize", "summary.mae:min"]
    res = CliRunner().invoke(
        stepline_cli, ["run", str(path), *args, "--alias-best", "prod", "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    best = data["executions"][data["best"]]
    assert best["overrides"] == ["m.depth=5", "m.trees=100"] and best["value"] == 3.0
    version = best["steps"]["train"]["outputs"]["model"]
    assert data["aliased"] == [f"demo/model:{version} -> prod"]
    prod = stepline.Api().artifact("demo/model:prod")
    assert prod.version == version and prod.logged_by().id == best["steps"]["train"]["run_id"]
    res = CliRunner().invoke(stepline_cli, ["run", str(path), *args])
    assert res.exit_code == 0, res.output
    assert "m.depth=5" in res.output and "mae" in res.output


def test_show_and_why(tmp_path: Path) -> None:
    path = chain(tmp_path)
    cli_runner = CliRunner()
    res = cli_runner.invoke(stepline_cli, ["pipeline", "show", str(path)])
    assert res.exit_code == 0, res.output
    assert "make" in res.output and "miss" in res.output
    res = cli_runner.invoke(stepline_cli, ["pipeline", "show", str(path), "--format", "mermaid"])
    assert res.output.startswith("flowchart LR")
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "--json"])
    assert res.exit_code == 0, res.output
    make_run = json.loads(res.stdout)["steps"]["make"]["run_id"]
    assert cli_runner.invoke(stepline_cli, ["run", str(path), "f=5"]).exit_code == 0
    res = cli_runner.invoke(stepline_cli, ["pipeline", "show", str(path), "--format", "json"])
    data = json.loads(res.output)
    assert data["steps"]["double"]["upstream"] == ["make"]
    assert data["steps"]["make"]["cache"] == f"hit {make_run}"
    assert data["levels"][0] == ["make", "side"]
    res = cli_runner.invoke(stepline_cli, ["pipeline", "show", str(path), "--format", "dot"])
    assert f"hit {make_run}" in res.output
    res = cli_runner.invoke(stepline_cli, ["why", "double", "--path", str(path)])
    assert res.exit_code == 0, res.output
    assert "parameters.factor" in res.output and "2" in res.output and "5" in res.output
    res = cli_runner.invoke(stepline_cli, ["why", "make", "--path", str(path), "--json"])
    data = json.loads(res.output)
    assert data["state"] == "cached" and data["changes"] == []
    res = cli_runner.invoke(stepline_cli, ["why", "nothing", "--path", str(path)])
    assert res.exit_code == 3 and "error: no step 'nothing' in" in res.output
    assert "its steps: make, double, report, side" in res.output


def test_why_shows_what_a_url_head_returned_and_notes(
    tmp_path: Path, served: tuple[Path, str]
) -> None:
    import socket

    from .helpers import component, pipeline

    www, base = served
    (www / "iris.csv").write_text("a,b\n1,2\n")
    component(
        tmp_path, "download", 'echo "{file_url}" > "$STEPLINE_OUT/iris.csv"', {"file_url": None}
    )

    def write(url: str) -> Path:
        step = {"component": "components/download", "parameters": {"file_url": url}}
        return pipeline(tmp_path, {"download": {**step, "outputs": ["iris.csv"]}})

    cli_runner = CliRunner()
    path = write(f"{base}/iris.csv")
    assert cli_runner.invoke(stepline_cli, ["run", str(path)]).exit_code == 0
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "--json"])
    assert json.loads(res.stdout)["steps"]["download"]["state"] == "cached"
    (www / "iris.csv").write_text("a,b\n1,2\n3,4\n")  # the remote file changes
    res = cli_runner.invoke(stepline_cli, ["run", str(path), "--json"])
    assert json.loads(res.stdout)["steps"]["download"]["state"] == "finished"
    res = cli_runner.invoke(
        stepline_cli, ["why", "download", "--path", str(path)], terminal_width=200
    )
    assert res.exit_code == 0, res.output
    assert "content-length 8]" in res.output and "content-length 12]" in res.output
    with socket.socket() as s:  # nobody listens here: keyed on the URL text, with a note
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write(f"http://127.0.0.1:{port}/iris.csv")
    assert cli_runner.invoke(stepline_cli, ["run", str(path)]).exit_code == 0
    res = cli_runner.invoke(
        stepline_cli, ["why", "download", "--path", str(path)], terminal_width=200
    )
    assert f"note: parameters.file_url: HEAD http://127.0.0.1:{port}/iris.csv failed" in res.output
    assert "keyed on the URL text" in res.output
