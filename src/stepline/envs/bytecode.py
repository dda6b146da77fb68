"""Byte-compiling envs once per source file, not once per env.

uv installs a wheel's files as hard links into its cache, so the same `pandas/core/frame.py`
is one inode in every env that has that pandas. A `.pyc` compiled for that inode is valid in
each of those envs (CPython checks the source's mtime and size, both shared by a hard link, and
re-points `co_filename` at the importing path). So compiled files are kept in a store keyed by
source inode, hard-linked into each new env, and only files never seen before are compiled.

Libraries' own test suites (`tests/` folders: 44 % of the files of a pandas + scikit-learn env) are
not compiled: components do not import them, and Python compiles one on demand if one ever does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from stepline.envs.lock import LogFn, run_streamed, tail
from stepline.envs.paths import cache_dir
from stepline.errors import EnvError

#: folders whose modules are not compiled ahead of time
SKIPPED_DIRS = frozenset({"__pycache__", "tests"})


def cache_tag(python_version: str) -> str:
    """`cpython-313` for 3.13.x (CPython's `sys.implementation.cache_tag`)."""
    major, minor = python_version.split(".")[:2]
    return f"cpython-{major}{minor}"


def _sources(root: Path) -> Iterator[os.DirEntry[str]]:
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIPPED_DIRS:
                            stack.append(entry.path)
                    elif entry.name.endswith(".py") and entry.is_file(follow_symlinks=False):
                        yield entry
        except OSError:
            continue


def _key(st: os.stat_result) -> str:
    return f"{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"


def _pyc(source: str, tag: str) -> str:
    folder, name = os.path.split(source)
    return os.path.join(folder, "__pycache__", f"{name[:-3]}.{tag}.pyc")


def compile_env(
    site_packages: Path, python: Path, python_version: str, on_log: LogFn | None = None
) -> tuple[int, int]:
    """Give every `.py` under `site_packages` a `.pyc`; return (linked from store, compiled)."""
    tag = cache_tag(python_version)
    store = cache_dir() / "pyc" / tag
    store.mkdir(parents=True, exist_ok=True)
    missing: list[tuple[str, os.stat_result]] = []
    linked = 0
    for entry in _sources(site_packages):
        st = entry.stat(follow_symlinks=False)
        target = _pyc(entry.path, tag)
        if os.path.exists(target):
            continue
        stored = store / f"{_key(st)}.pyc"
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.link(stored, target)
            linked += 1
        except OSError:
            missing.append((entry.path, st))
    if missing:
        listing = "\n".join(path for path, _ in missing) + "\n"
        list_file = store / f".todo-{os.getpid()}.txt"
        list_file.write_text(listing)
        try:
            rc, text = run_streamed(
                [str(python), "-m", "compileall", "-q", "-j", "0", "-i", str(list_file)],
                on_log,
            )
        finally:
            list_file.unlink(missing_ok=True)
        if rc != 0 and "SyntaxError" not in text:
            raise EnvError(f"byte-compiling {site_packages} failed:\n{tail(text)}")
        for path, st in missing:
            if st.st_nlink < 2:  # not shared with uv's cache: no other env will have it
                continue
            compiled = _pyc(path, tag)
            try:
                os.link(compiled, store / f"{_key(st)}.pyc")
            except OSError:
                pass
    return linked, len(missing)
