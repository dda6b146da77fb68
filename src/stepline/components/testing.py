"""`stepline component test`: a component's own tests, run inside the component's environment.

    code = run_tests("components/data_check", args=["-k", "row_count"])   # pytest's exit code

The env is planned and built exactly as for `stepline component run` (`envs.manager`), then
`python -m pytest` runs in the component directory with that env's interpreter, so the tests
see the packages the component declares (pytest among them). Output streams to `on_output`.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from stepline.components.mlproject import load_project
from stepline.components.runner import run_process
from stepline.components.sources import resolve_source
from stepline.envs.manager import activate, plan_env

OutputFn = Callable[[str, str], None]


def run_tests(
    uri: str | os.PathLike[str],
    args: Sequence[str] = (),
    env_manager: str | None = None,
    on_output: OutputFn | None = None,
) -> int:
    """Run pytest on the component at `uri` (a directory or git URI) in its env; its exit code."""
    source = resolve_source(os.fspath(uri), None, Path.cwd())
    project = load_project(source.directory)
    on_log = (lambda line: on_output("env", line)) if on_output is not None else None
    plan = plan_env(project.env, env_manager)
    active = activate(plan, on_log=on_log, component=project.name)
    active.component_dir = source.directory
    command = "python -m pytest " + " ".join(shlex.quote(a) for a in args)
    env = dict(active.env)
    store = env.get("STEPLINE_DIR")
    active.store_dir = Path(store) if store else None
    with tempfile.TemporaryDirectory(prefix="stepline-test-") as tmp:
        rc, _tail = run_process(
            active.argv(command.strip(), env), source.directory, env, Path(tmp), on_output
        )
    return rc
