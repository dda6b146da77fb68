"""A component's source digest counts what its author sees, never what its runs wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from stepline.components import execute, prepare
from stepline.components.tree import recorded_writes, source_files, tree_digest


def _component(d: Path, command: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "MLproject").write_text(
        yaml.safe_dump({"name": "train", "entry_points": {"main": {"command": command}}})
    )
    (d / "run.py").write_text("print('train')\n")
    return d


def test_gitignore_and_steplineignore_outside_git(tmp_path: Path) -> None:
    d = _component(tmp_path / "c", "true")
    (d / ".gitignore").write_text("random_forest_dir/\n*.log\n")
    (d / "sub").mkdir()
    (d / "sub" / ".gitignore").write_text("local.csv\n")
    (d / ".steplineignore").write_text("scratch.txt\n")
    d0 = tree_digest(d)
    (d / "random_forest_dir").mkdir()
    (d / "random_forest_dir" / "model.pkl").write_bytes(b"model")
    (d / "train.log").write_text("log")
    (d / "sub" / "local.csv").write_text("1")
    (d / "scratch.txt").write_text("notes")
    assert tree_digest(d) == d0
    assert set(source_files(d)) == {
        ".gitignore",
        ".steplineignore",
        "MLproject",
        "run.py",
        "sub/.gitignore",
    }
    (d / "sub" / "kept.csv").write_text("1")
    assert tree_digest(d) != d0


def test_git_view_of_the_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    d = _component(repo / "components" / "train", "true")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / ".git" / "info" / "exclude").write_text("clean_sample.csv\n")
    (repo / ".gitignore").write_text("*.bin\n")
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=repo, check=True)
    d0 = tree_digest(d)
    (d / "clean_sample.csv").write_text("a,b\n")  # excluded in .git/info/exclude
    (d / "weights.bin").write_bytes(b"\0")  # ignored by the repo's root .gitignore
    assert tree_digest(d) == d0
    (d / "notes.md").write_text("untracked, not ignored: the author sees it")
    assert "notes.md" in source_files(d) and tree_digest(d) != d0


def test_what_a_run_wrote_into_its_folder_does_not_count(tmp_path: Path) -> None:
    d = _component(
        tmp_path / "train",
        "mkdir -p random_forest_dir && date +%s%N > random_forest_dir/model.txt && "
        'date +%s%N > "stamp-$(date +%s%N).txt" && echo rows > clean_sample.csv && '
        "echo touched >> run.py",
    )
    step = prepare(d)
    assert execute(step, job_type="train").status == "finished"
    assert (d / "random_forest_dir" / "model.txt").exists()
    assert {"random_forest_dir/model.txt", "clean_sample.csv", "run.py"} <= set(recorded_writes(d))
    assert prepare(d).source_digest == step.source_digest
    assert execute(prepare(d), job_type="train").status == "finished"  # a second stamp
    assert len([p for p in d.iterdir() if p.name.startswith("stamp-")]) == 2
    assert prepare(d).source_digest == step.source_digest
    (d / "clean_sample.csv").write_text("edited by the author\n")  # counts again
    edited = prepare(d).source_digest
    assert edited != step.source_digest
    (d / "clean_sample.csv").unlink()
    (d / "MLproject").write_text((d / "MLproject").read_text() + "\n# a comment\n")
    assert prepare(d).source_digest not in (step.source_digest, edited)
