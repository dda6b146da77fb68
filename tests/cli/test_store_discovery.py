"""Which store a run lands in when STEPLINE_DIR is not set: found as git finds `.git`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STEPLINE = str(Path(sys.executable).parent / "stepline")
SCRIPT = "import stepline\nrun = stepline.init(project='p')\nrun.finish()\nprint(run.id)\n"


def user_env() -> dict[str, str]:
    """The environment of a user who set nothing: no STEPLINE_DIR, no project defaults."""
    drop = ("STEPLINE_DIR", "STEPLINE_PROJECT", "WANDB_PROJECT", "STEPLINE_RUN_ID", "WANDB_RUN_ID")
    return {k: v for k, v in os.environ.items() if k not in drop}


def sl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPLINE, *args], cwd=cwd, env=user_env(), capture_output=True, text=True, timeout=120
    )


def run_ids(store: Path) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{store / 'stepline.db'}")
    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(sa.text("select id from runs"))]
    engine.dispose()
    return ids


def test_a_store_above_the_git_root_is_not_used(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    repo = scratch / "repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    stranger = scratch / ".stepline"
    assert sl("artifacts", "ls", cwd=scratch).returncode == 0  # someone's store in the parent
    assert stranger.is_dir() and run_ids(stranger) == []

    first = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=repo / "src",
        env=user_env(),
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    mine = repo / ".stepline"
    assert run_ids(mine) == [first.stdout.strip()]
    assert run_ids(stranger) == []
    assert (mine / ".gitignore").read_text().splitlines()[-1] == "*"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ".stepline" not in status.stdout

    shown = sl("info", cwd=repo / "src")
    assert shown.returncode == 0, shown.stderr
    assert f"store     {mine} (found in the project folder)" in shown.stdout
    assert "project   uncategorized (default, from built-in default)" in shown.stdout
    assert "projects  p" in shown.stdout
    data = json.loads(sl("info", "--json", cwd=repo / "src").stdout)
    assert data["store"] == str(mine) and data["found_by"] == "found"
    assert data["project_root"] == str(repo) and data["projects"] == ["p"]


def test_one_line_when_a_store_is_created(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    before = sl("info", cwd=repo)
    assert f"store     {repo / '.stepline'} (at the git root" in before.stdout
    assert "not created yet" in before.stdout and not (repo / ".stepline").exists()

    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    made = sl("artifacts", "put", str(data), "--name", "p/x.csv", "--type", "raw", cwd=repo)
    assert made.returncode == 0, made.stderr
    notices = [line for line in made.stderr.splitlines() if line.startswith("stepline:")]
    assert notices == [f"stepline: created a stepline store in {repo / '.stepline'}"]
    again = sl("artifacts", "ls", cwd=repo)
    assert again.returncode == 0 and "created a stepline store" not in again.stderr


def test_outside_git_a_store_in_a_parent_is_found(tmp_path: Path) -> None:
    (tmp_path / "work" / ".stepline").mkdir(parents=True)
    deep = tmp_path / "work" / "a" / "b"
    deep.mkdir(parents=True)
    data = json.loads(sl("info", "--json", cwd=deep).stdout)
    assert data["store"] == str(tmp_path / "work" / ".stepline")
