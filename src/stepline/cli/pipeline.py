"""`stepline run`, `stepline pipeline show`, `stepline why`: the pipeline commands.

`stepline.cli` finds them as `run`, `why` and `pipeline` (also `cli`) in this module.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from stepline.cli import _output as _out
from stepline.cli._pipeline_display import (
    STYLE,
    LiveDisplay,
    fmt_time,
    interruptible,
    result_json,
    summary_table,
)
from stepline.errors import SteplineError, UsageError


def _ports(ctx: click.Context) -> tuple[Any, Any]:
    """The runner and tracker: the real ones unless a caller (tests) put others on ctx.obj."""
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    from stepline.pipeline.run import default_runner, default_tracker

    runner = obj.get("pipeline_runner") or default_runner()
    tracker = obj.get("pipeline_tracker") or default_tracker()
    return runner, tracker


def _split_args(args: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """PATH (at most one) and Hydra-style overrides (`a.b=1`, `+a=1`, `~a`) from free arguments."""
    path: str | None = None
    overrides: list[str] = []
    for arg in args:
        if "=" in arg or arg.startswith(("~", "+")):
            overrides.append(arg)
        elif path is None:
            path = arg
        else:
            raise click.UsageError(
                f"unexpected argument {arg!r}: give one PATH, then overrides as key.path=value"
            )
    return path, overrides


def _fail(console: Console, exc: SteplineError, debug: bool) -> None:
    if debug or os.environ.get("STEPLINE_DEBUG"):
        console.print_exception()
    console.print(f"[bold red]error[/] ({exc.code}): {exc}", highlight=False)
    raise SystemExit(2)


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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
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
    as_json: bool,
    debug: bool,
) -> None:
    """Run a pipeline: `stepline run [PATH] [key.path=value ...]`.

    \b
    Examples:
      stepline run                                  # ./pipeline.yaml, everything, cached
      stepline run -s download,basic_cleaning etl.min_price=20
      stepline run --from train -j 2
      stepline run -m modeling.max_depth=10,50 modeling.n_estimators=100,200 \\
          --optimize summary.mae:min --alias-best prod

    A directory with an MLproject and no pipeline.yaml is a course-style root (a Hydra main.py
    calling mlflow.run per step): its steps run as cached stepline steps, `-s` becomes
    `-P steps=...` and the overrides (and -m) become `-P hydra_options=...`.
    """
    console = _out.console(stderr=as_json)
    path, overrides = _split_args(args)
    only = [s.strip() for s in steps.split(",") if s.strip()] if steps else None
    cancel = threading.Event()
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
                    "(main.py decides its steps); use -s, overrides, -m, --no-cache, --name"
                )
            _run_course(console, path or ".", overrides, only, multirun, no_cache, name, as_json)
            return
        runner, tracker = _ports(ctx)
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
            )
    except SteplineError as exc:
        _fail(console, exc, debug)
        return
    if as_json:
        click.echo(json.dumps(result_json(result), indent=2))
    else:
        console.print(summary_table(result))
    if result.status == "cancelled":
        raise SystemExit(130)
    if not result.ok:
        raise SystemExit(1)


@contextmanager
def _null() -> Iterator[None]:
    yield


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
        )
    wall = time.monotonic() - t0
    if as_json:
        click.echo(
            json.dumps(
                {
                    "group": res.group,
                    "wall": round(wall, 3),
                    "best": res.best,
                    "aliased": res.aliased,
                    "executions": [
                        {
                            "overrides": p.overrides,
                            "value": p.value,
                            **(result_json(p.result) if p.result else {}),
                        }
                        for p in res.points
                    ],
                },
                indent=2,
            )
        )
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
) -> None:
    """A course-style root: run its `main` entry point with mlflow.run intercepted."""
    import yaml

    from stepline.components import execute, prepare
    from stepline.pipeline.course import hook_env, root_parameters
    from stepline.pipeline.run import new_execution_id

    root = Path(path).resolve()
    mlproject = next(root / n for n in ("MLproject", "MLproject.yaml") if (root / n).is_file())
    doc = yaml.safe_load(mlproject.read_text()) or {}
    declared = ((doc.get("entry_points") or {}).get("main") or {}).get("parameters") or {}
    params = root_parameters(declared, only, overrides, multirun)
    execution = new_execution_id()
    os.environ.update(hook_env(execution))  # read by the env activation of the root
    if no_cache:
        os.environ["STEPLINE_NO_CACHE"] = "1"
    step = prepare(str(root), "main", parameters=params)

    def show(stream: str, line: str) -> None:
        console.print(Text(line), style="dim" if stream == "env" else None, highlight=False)

    t0 = time.monotonic()
    result = execute(
        step,
        group=name,
        job_type="pipeline",
        extra_env=hook_env(execution),
        info={"execution": execution, "pipeline": "course", "root": str(root)},
        on_output=None if as_json else show,
    )
    import stepline

    runs = stepline.Api().runs(None, filters={"info.launch": execution}, order="created_at")
    rows = [
        {
            "run": r.id,
            "project": r.project,
            "group": r.group,
            "job_type": r.job_type,
            "step": r.info.get("step"),
            "state": r.state,
            "cached_from": r.info.get("cached_from"),
            "execution": r.info.get("execution"),
        }
        for r in runs
    ]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "execution": execution,
                    "run_id": result.run_id,
                    "status": result.status,
                    "steps": rows,
                },
                indent=2,
            )
        )
    else:
        table = Table(
            title=f"execution {execution}: {result.status} in {time.monotonic() - t0:.1f}s "
            f"(root run {result.run_id})"
        )
        for col in ("run", "step", "job_type", "group", "state", "cache", "execution"):
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
            )
        console.print(table)
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
    """Why STEP re-ran or hit the cache: its cache key fields against its previous run.

    \b
    Example:
      stepline why basic_cleaning                 # parameters.min_price: 10 -> 20
    """
    console = _out.console()
    from stepline.pipeline.cache import why

    try:
        if project is None:
            from stepline.pipeline.spec import find_pipeline_file, load_pipeline

            try:
                project = load_pipeline(find_pipeline_file(path)).project
            except SteplineError:
                if path is not None:
                    raise
        _, tracker = _ports(ctx)
        report = why(tracker, project, step, execution)
    except SteplineError as exc:
        _fail(console, exc, debug)
        return
    run, prev = report.run, report.previous
    if as_json:
        click.echo(
            json.dumps(
                {
                    "step": step,
                    "run": run.id,
                    "state": run.state,
                    "execution": run.info.get("execution"),
                    "cached_from": run.info.get("cached_from"),
                    "previous": prev.id if prev else None,
                    "changes": [
                        {"field": c.field, "key": c.key, "before": c.before, "after": c.after}
                        for c in report.changes
                    ],
                },
                indent=2,
                default=str,
            )
        )
        return
    where = f"execution {run.info.get('execution')} ({run.group})"
    if report.hit:
        console.print(
            f"{step} in {where}: [cyan]cache hit[/], same key as run {run.info.get('cached_from')}",
            highlight=False,
        )
    else:
        console.print(f"{step} in {where}: [yellow]ran[/] as run {run.id}", highlight=False)
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
        table.add_row(c.key, _short(c.before), _short(c.after))
    console.print(table)


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
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
    from stepline.pipeline.render import to_dot, to_mermaid
    from stepline.pipeline.spec import load_pipeline

    path, overrides = _split_args(args)
    try:
        spec = load_pipeline(path, overrides)
        dag = build_dag(spec.steps)
    except SteplineError as exc:
        _fail(console, exc, debug)
        return
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
        steps = {
            n: {
                **spec.steps[n].to_dict(),
                "upstream": sorted(dag.upstream[n]),
                "cache": status.get(n),
            }
            for n in dag.order()
        }
        click.echo(
            json.dumps(
                {
                    "pipeline": spec.name,
                    "project": spec.project,
                    "path": str(spec.path),
                    "digest": spec.digest,
                    "levels": dag.levels(),
                    "steps": steps,
                    "note": note or None,
                },
                indent=2,
            )
        )
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
    from stepline.pipeline.course import run_mlflow_step

    request = json.loads(Path(request_file).read_text())

    def echo(stream: str, line: str) -> None:
        click.echo(line, err=stream != "stdout")

    try:
        result = run_mlflow_step(request, on_output=echo)
    except SteplineError as exc:
        click.echo(f"error ({exc.code}): {exc}", err=True)
        result = {"status": "failed", "run_id": "", "error": str(exc)}
    Path(request_file + ".result").write_text(json.dumps(result))
    raise SystemExit(0 if result["status"] in ("finished", "cached") else 1)


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
