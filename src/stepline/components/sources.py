"""Component sources: a local directory, or a git URI checked out into a cache keyed by commit.

    resolve_source("components/get_data")                                    # local dir
    resolve_source("https://github.com/o/r.git#components/get_data", "main")  # git + subdir
    resolve_source("file:///srv/repo#step", "v1.2")                           # tag
    resolve_source("/srv/repo", "3f2a9c1")                                    # a commit

A `version` given for a plain (non-git) local directory is ignored, as course code passes
`version='main'` to local paths; on a local git work tree, a version that is the checked-out
commit runs the work tree as it is (uncommitted edits included), any other is checked out.

A git URI is first passed through the user's URL rewrites (STEPLINE_URL_REWRITE or
`[tool.stepline] url_rewrite`, see `stepline.envs.urls`), so a `components_repository` or an
`mlflow.run` URI that names GitHub can be read from a local checkout without editing code.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stepline.envs.paths import file_lock, sources_dir
from stepline.envs.urls import rewrite_hint, rewrite_uri
from stepline.errors import SourceNotFound, SpecError

GIT_PREFIXES = ("https://", "http://", "ssh://", "git://", "git@", "file://", "git+")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class Source:
    """A component directory on disk and where it came from."""

    directory: Path
    uri: str
    commit: str | None = None
    repo: str | None = None
    version: str | None = None
    subdirectory: str = ""


def is_git_uri(uri: str) -> bool:
    """True for remote/`file://` git URIs (not for plain local paths)."""
    return uri.startswith(GIT_PREFIXES) or bool(re.match(r"^[\w.-]+@[\w.-]+:", uri))


def split_subdirectory(uri: str) -> tuple[str, str]:
    """`repo#sub/dir` → (`repo`, `sub/dir`); a `.` component in the subdirectory is refused."""
    if "#" not in uri:
        return uri, ""
    base, sub = uri.split("#", 1)
    sub = sub.strip("/")
    if any(part in (".", "..") for part in sub.split("/")):
        raise SpecError(f"{uri}: the subdirectory after '#' may not contain '.' or '..'")
    return base, sub


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )


def _is_git_worktree(path: Path) -> bool:
    return (path / ".git").exists() or (
        _git("rev-parse", "--is-inside-work-tree", cwd=path).stdout.strip() == "true"
    )


def _is_head(worktree: Path, version: str) -> bool:
    """True when `version` is what the work tree has checked out (so its edits are used)."""
    head = _git("rev-parse", "HEAD", cwd=worktree).stdout.strip()
    wanted = _git("rev-parse", "--verify", "--quiet", f"{version}^{{commit}}", cwd=worktree)
    return bool(head) and wanted.returncode == 0 and wanted.stdout.strip() == head


def resolve_source(uri: str, version: str | None = None, cwd: Path | None = None) -> Source:
    """Find or fetch the component at `uri` (see the module docstring)."""
    base = cwd or Path.cwd()
    if is_git_uri(uri):
        uri = rewrite_uri(uri)[0]
    local = (base / Path(uri).expanduser()) if not is_git_uri(uri) else None
    if local is not None and local.is_dir():
        directory = local.resolve()
        if version and _is_git_worktree(directory) and not _is_head(directory, version):
            top = _git("rev-parse", "--show-toplevel", cwd=directory).stdout.strip()
            sub = os.path.relpath(directory, top) if top else ""
            return _checkout(top, version, "" if sub == "." else sub, uri)
        return Source(directory=directory, uri=uri)
    repo, sub = split_subdirectory(uri)
    if local is not None:
        repo_path = (base / Path(repo).expanduser()).resolve()
        if not repo_path.is_dir():
            raise SourceNotFound(
                f"component '{uri}': {repo_path} does not exist; give a component directory, "
                "or a git URI (https://…, file://…) with an optional #sub/dir"
            )
        if not version or not _is_git_worktree(repo_path) or _is_head(repo_path, version):
            directory = repo_path / sub
            if not directory.is_dir():
                raise SourceNotFound(f"component '{uri}': no directory {directory}")
            return Source(directory=directory, uri=uri, subdirectory=sub)
        repo = str(repo_path)
    return _checkout(repo, version, sub, uri)


def _mirror(repo: str) -> Path:
    key = hashlib.sha256(repo.encode()).hexdigest()[:20]
    mirror = sources_dir() / "repos" / f"{key}.git"
    with file_lock(mirror.with_suffix(".lock")):
        if mirror.is_dir():
            proc = _git("fetch", "--prune", "--tags", "--force", "origin", cwd=mirror)
        else:
            mirror.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=mirror.parent, prefix=".clone-"))
            proc = _git("clone", "--mirror", "--quiet", repo, str(tmp))
            if proc.returncode == 0:
                tmp.rename(mirror)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        if proc.returncode != 0:
            hint = f"; {rewrite_hint([repo])}" if "://" in repo else ""
            raise SourceNotFound(
                f"git repository '{repo}' could not be fetched: {_last_line(proc.stderr)}{hint}"
            )
    return mirror


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def _resolve_commit(mirror: Path, repo: str, version: str | None) -> str:
    rev = version or "HEAD"
    proc = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=mirror)
    if proc.returncode != 0:
        branches = _git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=mirror)
        tags = _git("tag", "--list", cwd=mirror)
        known = ", ".join((branches.stdout.split() + tags.stdout.split())[:20]) or "none"
        raise SourceNotFound(
            f"git repository '{repo}' has no version '{rev}' (branch, tag or commit); "
            f"branches and tags: {known}"
        )
    return proc.stdout.strip()


def _checkout(repo: str, version: str | None, sub: str, uri: str) -> Source:
    mirror = _mirror(repo)
    commit = _resolve_commit(mirror, repo, version)
    target = sources_dir() / "checkouts" / commit
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{commit[:12]}-"))
        try:
            archive = subprocess.run(
                ["git", "archive", "--format=tar", commit],
                cwd=mirror,
                capture_output=True,
                check=True,
            )
            subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
            try:
                tmp.rename(target)
            except OSError:  # another process won the race: its checkout is identical
                shutil.rmtree(tmp, ignore_errors=True)
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SourceNotFound(f"git repository '{repo}': cannot check out {commit}") from exc
    directory = target / sub if sub else target
    if not directory.is_dir():
        raise SourceNotFound(
            f"git repository '{repo}' at {commit[:12]} has no subdirectory '{sub}'"
        )
    return Source(
        directory=directory, uri=uri, commit=commit, repo=repo, version=version, subdirectory=sub
    )
