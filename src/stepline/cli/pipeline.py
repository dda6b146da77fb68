"""`stepline run`, `stepline pipeline show`, `stepline why`: the pipeline commands.

`stepline.cli` finds them as `run`, `why` and `pipeline` (also `cli`) in this module.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from stepline.cli import _output as _out
from stepline.cli._constraints import apply_constraints, constraint_option
from stepline.cli._pipeline_display import (
    STYLE,
    LiveDisplay,
    fmt_time,
    interruptible,
    print_failures,
    summary_table,
)
from stepline.errors import SteplineError, UsageError
from stepline.settings import DEBUG, NO_CACHE, current


def _ports(ctx: click.Context) -> tuple[Any, Any]:
    """The runner and tracker: the real ones unless a caller (tests) put others on ctx.obj."""
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    from stepline.pipeline.run import default_runner, default_tracker

    # the tracker works in this process, on the command's settings read once; the runner reads
    # them where each step executes (here, or a Ray worker given the driver's variables)
    runner = obj.get("pipeline_runner") or default_runner()
    tracker = obj.get("pipeline_tracker") or default_tracker(settings=current())
    return runner, tracker


def _split_args(args: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """PATH (at most one) and Hydra-style overrides (`a.b=1`, `+a=1`, `~a`) from free arguments."""
    path: str | None = None
    overrides: list[str] = []
    for arg in args:
        if "=" in arg or arg.startswith(("~", "+")):
            overrides.append(arg)
        elif _looks_like_a_key(arg):
            raise click.UsageError(
                f"{arg!r} is not key=value: overrides need a value, e.g. {arg}=VALUE "
                "(and PATH, if given, is an existing pipeline file or folder)"
            )
        elif path is None:
            path = arg
        else:
            raise click.UsageError(
                f"unexpected argument {arg!r}: give one PATH, then overrides as key.path=value"
            )
    return path, overrides


def _looks_like_a_key(arg: str) -> bool:
    """`model.max_depth`: dotted, no path separator, not a file that exists, not a YAML name."""
    return (
        "." in arg.strip(".")
        and os.sep not in arg
        and not arg.endswith((".yaml", ".yml"))
        and not os.path.exists(arg)
    )


def _debug(debug: bool) -> None:
    """`--debug` on a pipeline command: like `stepline --debug`, errors show their traceback."""
    if debug:
        os.environ[DEBUG] = "1"


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-s", "--steps", help="Only these steps, comma-separated: -s download,clean")
@click.option("--from", "from_step", help="This step and everything downstream of it.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel steps (default: cores).")
@click.option("--no-cache", is_flag=True, help="Run every selected step, ignoring the cache.")
@click.option("--force", multiple=True, help="Re-run this step even on a cache hit (repeatable).")
@click.option("--name", help="Name of the execution's group (experiment).")
@click.option("-m", "--multirun", is_flag=True, help="Sweep: a=1,2 b=3,4 runs the 4-point grid.")
@click.option("--optimize", help="With -m: pick the best execution, e.g. summary.mae:min")
@click.option("--alias-best", help="With --optimize: alias the best execution's output.")
@click.option(
    "--executor",
    "executor_kind",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where steps run: this machine, or a Ray cluster (pip install 'stepline[ray]').",
)
@click.option(
    "--address",
    help="With --executor ray: auto (running cluster), local (start one), ray://HOST:PORT.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@constraint_option
@click.pass_context
def run_cmd(
    ctx: click.Context,
    args: tuple[str, ...],
    steps: str | None,
    from_step: str | None,
    jobs: int | None,
    no_cache: bool,
    force: tuple[str, ...],
    name: str | None,
    multirun: bool,
    optimize: str | None,
    alias_best: str | None,
    executor_kind: str,
    address: str | None,
    as_json: bool,
    debug: bool,
    constraints: tuple[str, ...],
) -> None:
    """Run a pipeline: `stepline run [PATH] [key.path=value ...]`.

    \b
    Examples:
      stepline run                                  # ./pipeline.yaml, everything, cached
      stepline run -s download,basic_cleaning etl.min_price=20
      stepline run --from train -j 2
      stepline run -m modeling.max_depth=10,50 modeling.n_estimators=100,200 \\
          --optimize summary.mae:min --alias-best prod
      stepline run --executor ray --address auto    # each step a task on a Ray cluster

    A directory with an MLproject and no pipeline.yaml is a course-style root (a Hydra main.py
    calling mlflow.run per step): its steps run as cached stepline steps (with --executor ray,
    each step that must run is a Ray task), `-s` becomes `-P steps=...` and the overrides (and
    -m) become `-P hydra_options=...`.
    """
    _debug(debug)
    console = _out.console(stderr=as_json)
    apply_constraints(constraints)
    path, overrides = _split_args(args)
    only = [s.strip() for s in steps.split(",") if s.strip()] if steps else None
    cancel = threading.Event()
    stack = ExitStack()
    try:
        from stepline.pipeline.course import is_course_root

        if is_course_root(path or "."):
            unsupported = [
                opt
                for opt, given in (
                    ("--from", from_step),
                    ("--force", force),
                    ("-j", jobs),
                    ("--optimize", optimize),
                    ("--alias-best", alias_best),
                )
                if given
            ]
            if unsupported:
                raise UsageError(
                    f"{', '.join(unsupported)}: not available for a course-style root "
                    "(main.py decides its steps); use -s, overrides, -m, --no-cache, --name, "
                    "--executor"
                )
            if executor_kind != "ray" and address:
                raise UsageError("--address is for --executor ray; add --executor ray or drop it")
            executor = _executor(executor_kind, address, _ports(ctx)[0])
            stack.callback(lambda: executor is not None and executor.shutdown())
            _run_course(
                console, path or ".", overrides, only, multirun, no_cache, name, as_json, executor
            )
            return
        runner, tracker = _ports(ctx)
        if executor_kind != "ray" and address:
            raise UsageError("--address is for --executor ray; add --executor ray or drop it")
        if executor_kind == "ray" and jobs:
            raise UsageError(
                "-j is for the local executor; on Ray each step takes its `resources:` "
                "(1 CPU by default) and the cluster decides how many run at once"
            )
        executor = _executor(executor_kind, address, runner)
        stack.callback(lambda: executor is not None and executor.shutdown())
        if multirun or optimize or alias_best:
            _run_sweep(
                console,
                path,
                overrides,
                only,
                from_step,
                jobs,
                no_cache,
                force,
                name,
                optimize,
                alias_best,
                runner,
                tracker,
                cancel,
                as_json,
                executor,
            )
            return
        from stepline.pipeline.run import run_pipeline
        from stepline.pipeline.spec import load_pipeline

        spec = load_pipeline(path, overrides)
        display = LiveDisplay(console)
        with (
            interruptible(cancel, console),
            Live(
                display,
                console=console,
                refresh_per_second=8,
                transient=True,
            )
            if console.is_terminal
            else _null(),
        ):
            result = run_pipeline(
                spec,
                only=only,
                from_step=from_step,
                jobs=jobs,
                no_cache=no_cache,
                force=force,
                name=name,
                runner=runner,
                tracker=tracker,
                listener=display,
                cancel=cancel,
                executor=executor,
            )
    finally:
        stack.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(summary_table(result))
        print_failures(console, result)
    if result.status == "cancelled":
        raise SystemExit(130)
    if not result.ok:
        raise SystemExit(1)


@contextmanager
def _null() -> Iterator[None]:
    yield


def _executor(kind: str, address: str | None, runner: Any) -> Any:
    """None for the local executor (run_pipeline makes one), else a connected RayExecutor."""
    if kind != "ray":
        return None
    from stepline.pipeline.ray_executor import RayExecutor

    return RayExecutor(runner, address)


def _run_sweep(
    console: Console,
    path: str | None,
    overrides: list[str],
    only: list[str] | None,
    from_step: str | None,
    jobs: int | None,
    no_cache: bool,
    force: tuple[str, ...],
    name: str | None,
    optimize: str | None,
    alias_best: str | None,
    runner: Any,
    tracker: Any,
    cancel: threading.Event,
    as_json: bool,
    executor: Any = None,
) -> None:
    from stepline.pipeline.sweep import expand_grid, run_sweep

    points = expand_grid(overrides)
    display = LiveDisplay(console, multi=True)
    t0 = time.monotonic()
    with (
        interruptible(cancel, console),
        Live(display, console=console, refresh_per_second=4, transient=True)
        if console.is_terminal
        else _null(),
    ):
        res = run_sweep(
            path,
            points,
            only=only,
            from_step=from_step,
            jobs=jobs,
            no_cache=no_cache,
            force=force,
            name=name,
            optimize=optimize,
            alias_best=alias_best,
            runner=runner,
            tracker=tracker,
            listener=display,
            cancel=cancel,
            executor=executor,
        )
    wall = time.monotonic() - t0
    if as_json:
        click.echo(json.dumps(res.to_dict(wall), indent=2))
    else:
        table = Table(title=f"sweep {res.group}: {len(res.points)} executions in {wall:.1f}s")
        for col in ("#", "overrides", "execution", "status", "time"):
            table.add_column(col)
        if res.objective:
            table.add_column(f"{res.objective.key} ({res.objective.direction})")
        for i, p in enumerate(res.points):
            r = p.result
            cells: list[RenderableType] = [
                ("* " if i == res.best else "") + str(i),
                " ".join(p.overrides),
                r.execution_id if r else "",
                Text(r.status if r else "not run", style=STYLE.get(r.status if r else "", "")),
                fmt_time(r.duration if r else None),
            ]
            if res.objective:
                cells.append("" if p.value is None else f"{p.value:g}")
            table.add_row(*cells)
        console.print(table)
        if res.best is not None:
            best = res.points[res.best]
            console.print(
                f"best: #{res.best} {' '.join(best.overrides)} "
                f"({res.objective.key if res.objective else ''}={best.value:g}, "
                f"run {best.metric_run})",
                highlight=False,
            )
        elif res.objective:
            console.print(f"[yellow]no execution reported summary.{res.objective.key}[/]")
        for line in res.aliased:
            console.print(f"aliased {line}", highlight=False)
    if cancel.is_set():
        raise SystemExit(130)
    if not res.ok:
        raise SystemExit(1)


def _run_course(
    console: Console,
    path: str,
    overrides: list[str],
    only: list[str] | None,
    multirun: bool,
    no_cache: bool,
    name: str | None,
    as_json: bool,
    executor: Any = None,
) -> None:
    """A course-style root: run its `main` entry point with mlflow.run intercepted; with an
    `executor` (Ray), each step that must run is a task of it."""
    from stepline.components import execute, prepare
    from stepline.components.mlproject import load_project
    from stepline.pipeline.course import hook_env, root_parameters
    from stepline.pipeline.run import new_execution_id

    root = Path(path).resolve()
    declared = load_project(root).entry_point("main").parameters
    params = root_parameters(declared, only, overrides, multirun)
    execution = new_execution_id()
    # the root's environment: the hook, and NO_CACHE for the steps its mlflow.run calls start
    base = {**os.environ, **hook_env(execution), **({NO_CACHE: "1"} if no_cache else {})}
    step = prepare(str(root), "main", parameters=params)

    from stepline.cli._progress import Reporter, live

    def shower(bars: Reporter) -> Callable[[str, str], None]:
        def show(stream: str, line: str) -> None:
            if stream == "env":
                bars.env_line(line)
            else:
                bars.step_line(line)
            console.print(Text(line), style="dim" if stream == "env" else None, highlight=False)

        return show

    from stepline.pipeline.stepserver import ExecutorStepServer, StepServer

    t0 = time.monotonic()
    # the summary below queries runs through SQLAlchemy: import it while the root runs
    from stepline.backends.local import preload_sql

    threading.Thread(target=preload_sql, name="stepline-preload", daemon=True).start()
    # mlflow.run calls become forks of one warm process, or threads of this one that hand
    # each step to the executor
    server = StepServer() if executor is None else ExecutorStepServer(executor)
    with server as server_env, live(console) as bars:
        bars.step_started(f"{root.name} (main.py)")
        result = execute(
            step,
            group=name,
            job_type="pipeline",
            extra_env={**hook_env(execution), **server_env},
            base_env=base,
            info={"execution": execution, "pipeline": "course", "root": str(root)},
            on_output=None if as_json else shower(bars),
        )
        bars.step_ended()
    from stepline.pipeline.course import finish_root

    finish_root(execution, result.status)
    from stepline.cli._pipeline_display import (
        compact_metrics,
        course_rows,
        first_line,
        print_failure,
    )

    rows = course_rows(execution)
    note = ""
    if not rows:
        asked = f" for -s {','.join(only)}" if only else ""
        note = f"no step ran: main.py made no mlflow.run call{asked}" + (
            "; check what main.py does for that step (a branch that is only `pass`?)"
            if only
            else ""
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "execution": execution,
                    "run_id": result.run_id,
                    "status": result.status,
                    "steps": [{k: v for k, v in r.items() if k != "stderr_tail"} for r in rows],
                    **({"note": note} if note else {}),
                },
                indent=2,
            )
        )
    else:
        table = Table(
            title=f"execution {execution}: {result.status} in {time.monotonic() - t0:.1f}s "
            f"(root run {result.run_id})"
        )
        show_metrics = any(r["summary"] for r in rows)
        cols = ["run", "step", "job_type", "group", "state", "cache", "execution"]
        for col in [*cols, *(["summary"] if show_metrics else []), "note"]:
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["run"],
                str(r["step"] or ""),
                str(r["job_type"] or ""),
                str(r["group"] or ""),
                Text(r["state"], style=STYLE.get(r["state"], "")),
                f"hit ({r['cached_from']})" if r["cached_from"] else "",
                str(r["execution"]),
                *([compact_metrics(r["summary"])] if show_metrics else []),
                first_line(r["reason"]),
            )
        if rows:
            console.print(table)
        else:
            console.print(table.title, highlight=False)
        for r in rows:
            if r["state"] == "failed":
                print_failure(
                    console,
                    str(r["step"] or r["job_type"]),
                    r["reason"],
                    r["run"] if r["started"] else None,
                    r["stderr_tail"],
                )
        if note:
            console.print(f"[yellow]{note}[/]", highlight=False)
    if result.status != "finished":
        raise SystemExit(1)


@click.command("why")
@click.argument("step")
@click.option("--execution", "-e", help="Execution id or group (default: the step's newest run).")
@click.option("--path", "path", default=None, help="Pipeline file or dir (for its project).")
@click.option("--project", help="Project (default: the pipeline's).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--debug", is_flag=True)
@click.pass_context
def why_cmd(
    ctx: click.Context,
    step: str,
    execution: str | None,
    path: str | None,
    project: str | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Why STEP re-ran or hit the cache: its cache key fields against the closest earlier run.

    The run compared with is the earlier run of STEP (from another execution) whose key
    differs in the fewest fields. Inputs show versions (v0 -> v1); a file parameter shows its
    content digest; a URL shows what its HEAD returned (etag, last-modified, content-length).

    \b
    Example:
      stepline why basic_cleaning                 # parameters.min_price: 10 -> 20
    """
    _debug(debug)
    console = _out.console()
    from stepline.pipeline.cache import why_step

    _, tracker = _ports(ctx)
    report = why_step(tracker, step, execution, path=path, project=project)
    run, prev = report.run, report.previous
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    where = f"execution {run.info.get('execution')} ({run.group})"
    if report.hit:
        console.print(
            f"{step} in {where}: [cyan]cache hit[/], same key as run {run.info.get('cached_from')}",
            highlight=False,
        )
    else:
        console.print(f"{step} in {where}: [yellow]ran[/] as run {run.id}", highlight=False)
    for param, note in report.notes.items():
        console.print(Text(f"note: parameters.{param}: {note}"), highlight=False)
    if prev is None:
        console.print("no earlier run of this step to compare with")
        return
    if not report.changes:
        console.print(
            f"cache key unchanged since run {prev.id} (execution {prev.info.get('execution')})",
            highlight=False,
        )
        return
    table = Table(title=f"changed since run {prev.id} (execution {prev.info.get('execution')})")
    for col in ("field", "before", "after"):
        table.add_column(col)
    for c in report.changes:
        table.add_row(Text(c.key), Text(_short(c.before)), Text(_short(c.after)))
    console.print(table)


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    if text.startswith("file content blake3:"):
        return f"file content {text[len('file content blake3:') :][:12]}…"
    url, sep, remote = text.partition(" [")
    if sep and text.endswith("]"):  # a URL and what its HEAD returned: show all of the latter
        return f"{url if len(url) <= 40 else '…' + url[-30:]} [{remote}"
    return text if len(text) <= 40 else text[:16] + "…" + text[-8:]


@click.group("pipeline")
def cli() -> None:
    """Pipelines: `stepline pipeline show`; run them with `stepline run`."""


@cli.command("show")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "mermaid", "dot", "json"]), default="text"
)
@click.option("--no-cache-state", is_flag=True, help="Do not ask the store about cache hits.")
@click.option("--debug", is_flag=True)
@click.pass_context
def show_cmd(
    ctx: click.Context, args: tuple[str, ...], fmt: str, no_cache_state: bool, debug: bool
) -> None:
    """Show the pipeline's DAG with each step's artifacts and cache state.

    \b
    Examples:
      stepline pipeline show
      stepline pipeline show pipeline.yaml etl.min_price=20 --format mermaid
    """
    console = _out.console()
    from stepline.pipeline.dag import build_dag
    from stepline.pipeline.render import to_dict, to_dot, to_mermaid
    from stepline.pipeline.spec import load_pipeline

    _debug(debug)
    path, overrides = _split_args(args)
    spec = load_pipeline(path, overrides)
    dag = build_dag(spec.steps)
    status: dict[str, str] = {}
    note = ""
    if not no_cache_state:
        try:
            from stepline.pipeline.run import plan_execution, predict_cache

            runner, tracker = _ports(ctx)
            plan = plan_execution(spec, runner, tracker)
            for step, (state, run_id) in predict_cache(plan, tracker).items():
                status[step] = f"hit {run_id}" if state == "hit" else state
        except (SteplineError, ImportError) as exc:
            note = f"cache state unavailable: {exc}"
    if fmt == "mermaid":
        click.echo(to_mermaid(spec, dag, status), nl=False)
        return
    if fmt == "dot":
        click.echo(to_dot(spec, dag, status), nl=False)
        return
    if fmt == "json":
        click.echo(json.dumps(to_dict(spec, dag, status, note), indent=2))
        return
    table = Table(title=f"pipeline {spec.name} (project {spec.project}) — {spec.path}")
    for col in ("level", "step", "component", "inputs", "outputs", "after", "cache"):
        table.add_column(col)
    for level, names in enumerate(dag.levels()):
        for n in names:
            s = spec.steps[n]
            comp = s.component
            try:
                comp = str(Path(comp).relative_to(spec.root))
            except ValueError:
                pass
            table.add_row(
                str(level),
                n,
                f"{comp}:{s.entry_point}",
                "\n".join(str(i) for i in s.inputs),
                "\n".join(s.outputs),
                ", ".join(s.after),
                status.get(n, ""),
            )
    console.print(table)
    if note:
        console.print(f"[dim]{note}[/]", highlight=False)


@cli.command("mlflow-step", hidden=True)
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False))
def mlflow_step_cmd(request_file: str) -> None:
    """Run one intercepted `mlflow.run` call (used by the hook in course-style roots)."""
    from stepline.cli.mlflow_step import run_request

    raise SystemExit(run_request(request_file))


cli.add_command(run_cmd, "run")
cli.add_command(why_cmd, "why")

# the names `stepline.cli` looks up
run = run_cmd
why = why_cmd
pipeline = cli


def main() -> None:  # pragma: no cover - for `python -m stepline.cli.pipeline`
    """Run the pipeline commands standalone (before the lead wires them into `stepline`)."""
    group = click.Group(commands={"run": run_cmd, "why": why_cmd, "pipeline": cli})
    group(prog_name="stepline")


if __name__ == "__main__":  # pragma: no cover
    main()
