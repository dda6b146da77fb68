"""A component's source digest: its files as its author sees them, not what its runs wrote.

    digest = tree_digest(Path("components/train"))       # before a run (prepare)
    before = snapshot(Path("components/train"))           # just before the command starts
    ...                                                   # the run writes random_forest_dir/
    record_writes(Path("components/train"), before)       # after it ends

Which files count:

- in a git work tree, git's view: `git ls-files -co --exclude-standard` (tracked files plus
  untracked ones that no `.gitignore`, `.git/info/exclude` or global excludes file hides);
- elsewhere, every file below the folder minus what its `.gitignore` files say;
- in both, minus `.steplineignore` patterns (gitignore syntax, one file at the component's
  root), caches (`__pycache__`, `.git`, `artifacts/`, `outputs/`, …, `*.pyc`) and every file
  a run of the component created or changed in its folder whose content is still what that run
  left there (`record_writes`). Editing such a file makes it count again.

Files are hashed through the stat cache, so an unchanged tree costs one `stat` per file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import blake3

from stepline.envs.paths import cache_dir, file_lock
from stepline.store.statcache import cached_digests, shared

if TYPE_CHECKING:
    import pathspec

SKIP_DIRS = frozenset(
    {
        ".git",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".stepline",
        ".ipynb_checkpoints",
        "artifacts",
        "wandb",
        "mlruns",
        "outputs",
        "multirun",
    }
)
IGNORE_FILE = ".steplineignore"

#: (inode, size, mtime_ns, digest) of each counted file, by path relative to the component folder
Snapshot = dict[str, tuple[int, int, int, str]]


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return (
        any(p in SKIP_DIRS or p.endswith(".egg-info") for p in parts[:-1])
        or parts[-1].endswith((".pyc", ".pyo"))
        or parts[-1] == ".DS_Store"
    )


def _spec(path: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    import pathspec  # here: it takes longer to import than a small tree takes to hash

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _git_files(root: Path) -> list[str] | None:
    """git's view of the files below `root`, or None when `root` is not in a git work tree."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
            check=False,
        )
    except OSError:  # no git on this machine
        return None
    if proc.returncode != 0:
        return None
    names = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    # an entry ending in "/" is a nested repository git does not descend into
    return sorted({n for n in names if n and not n.endswith("/")})


def _walk_files(root: Path) -> list[str]:
    """Every file below `root` that the `.gitignore` files found on the way do not hide."""
    out: list[str] = []
    specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []  # (base relative to root, spec)

    def ignored(rel: str, is_dir: bool) -> bool:
        for base, spec in specs:
            if base and not rel.startswith(base + "/"):
                continue
            sub = rel[len(base) + 1 :] if base else rel
            if spec.match_file(sub + "/" if is_dir else sub):
                return True
        return False

    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        base = here.relative_to(root).as_posix()
        base = "" if base == "." else base
        if ".gitignore" in filenames:
            spec = _spec(here / ".gitignore")
            if spec is not None:
                specs.append((base, spec))
        prefix = f"{base}/" if base else ""
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS and not d.endswith(".egg-info") and not ignored(prefix + d, True)
        )
        out.extend(prefix + f for f in filenames if not ignored(prefix + f, False))
    return sorted(out)


def source_files(root: Path) -> list[str]:
    """The paths (relative, `/`-separated, sorted) that count towards `root`'s digest,
    before the files its runs wrote are taken out."""
    root = Path(root)
    names = _git_files(root)
    if names is None:
        names = _walk_files(root)
    own = _spec(root / IGNORE_FILE)
    return [
        n
        for n in names
        if not _skipped(n)
        and not (own is not None and own.match_file(n))
        and os.path.lexists(root / n)
        and not (root / n).is_dir()
    ]


def _writes_file(root: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:24]
    return cache_dir() / "source-writes" / f"{key}.json"


def recorded_writes(root: Path) -> dict[str, tuple[str, str | None]]:
    """Path -> (digest a run of the component at `root` left there, digest before that run or
    None when the run created the file)."""
    try:
        data = json.loads(_writes_file(root).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    out: dict[str, tuple[str, str | None]] = {}
    for rel, entry in files.items():
        if isinstance(entry, list) and len(entry) == 2:
            out[str(rel)] = (str(entry[0]), None if entry[1] is None else str(entry[1]))
    return out


def snapshot(root: Path) -> Snapshot:
    """Stat and digest of every counted file, taken just before a run starts (see
    `record_writes`); the digests come from the stat cache `prepare` just filled."""
    root = Path(root)
    stats: dict[str, tuple[int, int, int]] = {}
    for rel in source_files(root):
        try:
            st = os.lstat(root / rel)
        except OSError:
            continue
        if not os.path.islink(root / rel):
            stats[rel] = (st.st_ino, st.st_size, st.st_mtime_ns)
    digests = _digests(root, list(stats))
    return {rel: (*st, d) for (rel, st), d in zip(stats.items(), digests, strict=True)}


def _stats(root: Path) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for rel in source_files(root):
        path = root / rel
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not os.path.islink(path):
            out[rel] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def record_writes(root: Path, before: Snapshot) -> list[str]:
    """Remember the files a run created or changed in `root` since `before`; returns them.

    While a remembered file still holds what the run left, later digests of `root` count it
    as it was before the run (a file the run created does not count at all). Entries whose
    file is gone are dropped, so a component writing a new timestamped file per run keeps a
    short record.
    """
    root = Path(root)
    after = _stats(root)
    written = sorted(rel for rel, st in after.items() if rel not in before or before[rel][:3] != st)
    target = _writes_file(root)
    with file_lock(target.with_suffix(".lock")):
        old = recorded_writes(root)
        files = {k: v for k, v in old.items() if k in after}
        for rel, digest in zip(written, _digests(root, written), strict=True):
            was = before[rel][3] if rel in before else None
            if rel in old and was == old[rel][0]:  # a rewrite of what an earlier run wrote
                was = old[rel][1]
            if digest == was:
                files.pop(rel, None)
            else:
                files[rel] = (digest, was)
        if not files and not target.exists():
            return written
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"dir": str(root), "files": files}, sort_keys=True))
        os.replace(tmp, target)
    return written


def _digests(root: Path, rels: Iterable[str]) -> list[str]:
    cache = shared(cache_dir() / "statcache.sqlite")
    return cached_digests(cache, [root / rel for rel in rels])


def tree_digest(directory: Path) -> str:
    """BLAKE3 over the sorted (relative path, content digest) of the files that count."""
    root = Path(directory)
    written = recorded_writes(root)
    links: list[tuple[str, str]] = []
    regular: list[str] = []
    for rel in source_files(root):
        path = root / rel
        if path.is_symlink():
            links.append((rel, "link:" + os.readlink(path)))
        else:
            regular.append(rel)
    entries = links + list(zip(regular, _digests(root, regular), strict=True))
    total = blake3.blake3()
    for rel, digest in sorted(entries):
        if rel in written and written[rel][0] == digest:
            was = written[rel][1]
            if was is None:
                continue
            digest = was
        total.update(f"{rel}\0{digest}\n".encode())
    return total.hexdigest()
