import subprocess
from pathlib import Path

import pytest

from stepline.components.sources import SourceNotFound, resolve_source
from stepline.components.tree import tree_digest


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STEPLINE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / "components" / "step").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    (r / "components" / "step" / "MLproject").write_text("name: v1\n")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "one")
    git(r, "tag", "v1")
    (r / "components" / "step" / "MLproject").write_text("name: v2\n")
    git(r, "commit", "-qam", "two")
    return r


def test_local_dir_and_version_ignored(tmp_path: Path) -> None:
    d = tmp_path / "plain"
    d.mkdir()
    assert resolve_source(str(d)).directory == d
    assert resolve_source("plain", version="main", cwd=tmp_path).directory == d


def test_file_uri_branch_tag_commit(repo: Path, cache: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    first = git(repo, "rev-parse", "v1")
    s = resolve_source(f"file://{repo}#components/step")
    assert s.commit == head and (s.directory / "MLproject").read_text() == "name: v2\n"
    assert s.directory.is_relative_to(cache)
    s = resolve_source(f"file://{repo}#components/step", version="v1")
    assert s.commit == first and (s.directory / "MLproject").read_text() == "name: v1\n"
    s = resolve_source(f"file://{repo}#components/step", version=first[:8])
    assert s.commit == first
    s = resolve_source(f"file://{repo}#components/step", version="main")
    assert s.commit == head


def test_local_repo_path_with_version(repo: Path) -> None:
    first = git(repo, "rev-parse", "v1")
    s = resolve_source(str(repo / "components" / "step"), version="v1")
    assert s.commit == first and (s.directory / "MLproject").read_text() == "name: v1\n"
    s = resolve_source(f"{repo}#components/step", version="v1")
    assert s.commit == first
    # without a version, or with the checked-out one, the working tree is used as is
    (repo / "components" / "step" / "MLproject").write_text("name: dirty\n")
    s = resolve_source(f"{repo}#components/step")
    assert s.commit is None and (s.directory / "MLproject").read_text() == "name: dirty\n"
    s = resolve_source(str(repo / "components" / "step"), version="main")
    assert s.commit is None and (s.directory / "MLproject").read_text() == "name: dirty\n"


def test_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match=r"no version 'nope'.*main, v1"):
        resolve_source(f"file://{repo}", version="nope")
    with pytest.raises(SourceNotFound, match="no subdirectory 'missing'"):
        resolve_source(f"file://{repo}#missing")
    with pytest.raises(SourceNotFound, match="could not be fetched"):
        resolve_source(f"file://{tmp_path}/no-such-repo")
    with pytest.raises(SourceNotFound, match="does not exist"):
        resolve_source(str(tmp_path / "nowhere"))


def test_tree_digest_ignores_run_outputs(tmp_path: Path) -> None:
    tmp_path = tmp_path / "c"  # beside the test's cache folder, not around it
    tmp_path.mkdir()
    (tmp_path / "run.py").write_text("print(1)\n")
    d0 = tree_digest(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"1")
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "a.csv").write_text("1")
    assert tree_digest(tmp_path) == d0
    (tmp_path / "run.py").write_text("print(2)\n")
    assert tree_digest(tmp_path) != d0
