"""`stepline component new|run|test`."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import click

from stepline.cli._constraints import apply_constraints, constraint_option
from stepline.errors import UsageError


@click.group("component")
def cli() -> None:
    """Create and run components (MLproject directories)."""


@cli.command("new")
@click.argument("name")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME:TYPE[=DEFAULT]",
    help="A parameter; types: string|str|float|int|number|path|uri. Repeatable.",
)
@click.option("--dir", "directory", type=click.Path(), help="Where to write it (default: ./NAME).")
@click.option("--job-type", help="The run's job_type (default: NAME).")
def new(name: str, params: tuple[str, ...], directory: str | None, job_type: str | None) -> None:
    """Scaffold a component: MLproject, python_env.yaml and run.py.

    Example: stepline component new basic_cleaning --param input_artifact:str
    --param min_price:float=10 --param max_price:float=350
    """
    from stepline.components.scaffold import parse_param_spec, scaffold

    specs = [parse_param_spec(p) for p in params]
    written = scaffold(Path(directory or name), name, specs, job_type)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"run it with: stepline component run {directory or name} -P key=value ...")


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"-P {pair!r}: write parameters as key=value")
        key, value = pair.split("=", 1)
        params[key.strip()] = value
    return params


@cli.command("run")
@click.argument("uri")
@click.option("-e", "--entry-point", default="main", show_default=True)
@click.option("-P", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Repeatable.")
@click.option(
    "--env-manager",
    type=click.Choice(["local", "uv", "conda", "docker"]),
    help="Default: uv for python_env, conda (→ uv without a conda binary) for conda_env, "
    "docker for docker_env, local otherwise.",
)
@click.option("-v", "--version", "version", help="Git branch, tag or commit.")
@click.option("--project", help="Project of the run (default: STEPLINE_PROJECT/WANDB_PROJECT).")
@click.option("--group", help="Group (experiment) of the run.")
@click.option("--job-type", help="job_type of the run.")
@click.option("--run-name", help="Name of the run.")
@click.option(
    "--wandb",
    type=click.Choice(["stepline", "real"]),
    default="stepline",
    show_default=True,
    help="'real' keeps a real wandb requirement instead of stepline's drop-in module.",
)
@click.option(
    "--mlflow-run",
    type=click.Choice(["real", "stepline"]),
    default="stepline",
    show_default=True,
    help="'stepline' runs each mlflow.run() call the component makes (a Hydra main.py) as a "
    "tracked, cached stepline step; 'real' leaves mlflow.run alone.",
)
@click.option("--quiet", is_flag=True, help="Do not stream the env build log.")
@constraint_option
def run(
    uri: str,
    entry_point: str,
    params: tuple[str, ...],
    env_manager: str | None,
    version: str | None,
    project: str | None,
    group: str | None,
    job_type: str | None,
    run_name: str | None,
    wandb: str,
    mlflow_run: str,
    quiet: bool,
    constraints: tuple[str, ...],
) -> None:
    """Run a component; its output streams live, prefixed; the exit code is the component's.

    Example: stepline component run components/get_data -P sample=sample1.csv
    -P artifact_name=sample.csv --env-manager conda
    """
    from stepline.components.runner import execute, prepare

    apply_constraints(constraints)
    step = prepare(uri, entry_point, _parse_params(params), env_manager, version, wandb=wandb)
    prefix = click.style(f"[{step.name}]", fg="cyan")
    env_prefix = click.style(f"[{step.name} env]", dim=True)

    from stepline.cli._progress import Reporter, live

    click.echo(
        click.style(
            f"{step.name}:{step.entry_point} ({step.env_manager} env {step.env_digest[:12]}) "
            f"$ {step.command}",
            dim=True,
        ),
        err=True,
    )
    extra_env = None
    if mlflow_run == "stepline":
        from stepline.pipeline.course import hook_env

        extra_env = hook_env(uuid.uuid4().hex[:12])
        os.environ.update(extra_env)  # the env activation reads PYTHONPATH from here

    def printer(bars: Reporter) -> Callable[[str, str], None]:
        def on_output(stream: str, line: str) -> None:
            if stream == "env":
                bars.env_line(line)
                if not quiet:
                    click.echo(f"{env_prefix} {line}", err=True)
            else:
                bars.step_line(line)
                click.echo(f"{prefix} {line}", err=stream == "stderr")

        return on_output

    with live() as bars:
        bars.step_started(step.name)
        result = execute(
            step,
            project=project,
            group=group,
            job_type=job_type,
            run_name=run_name,
            extra_env=extra_env,
            on_output=printer(bars),
        )
        bars.step_ended()
    color = "green" if result.status == "finished" else "red"
    click.echo(
        click.style(
            f"run {result.run_id} {result.status} (exit code {result.exit_code}, "
            f"{result.duration:.2f}s)",
            fg=color,
        ),
        err=True,
    )
    if result.status == "failed" and result.exit_code == 0:
        from stepline.tracking.api import Api

        info = Api().run(result.run_id).info
        if info.get("lost_points"):
            click.echo(
                click.style(
                    f"run {result.run_id} lost {info['lost_points']:,} of"
                    f" {info.get('logged_points', info['lost_points']):,} metric points"
                    f" ({info.get('lost_reason', 'unknown')})",
                    fg="red",
                ),
                err=True,
            )
        sys.exit(1)
    sys.exit(result.exit_code if result.exit_code >= 0 else 128 - result.exit_code)


@cli.command("test", context_settings={"ignore_unknown_options": True})
@click.argument("path")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--env-manager",
    type=click.Choice(["local", "uv", "conda", "docker"]),
    help="As for `component run` (default: the one the component's env file implies).",
)
@click.option("--quiet", is_flag=True, help="Do not stream the env build log.")
def test(path: str, pytest_args: tuple[str, ...], env_manager: str | None, quiet: bool) -> None:
    """Run a component's own tests (pytest) inside its environment; exit with pytest's code.

    Arguments after PATH go to pytest.

    Example: stepline component test components/data_check -- -k row_count
    """
    from stepline.components.testing import run_tests

    env_prefix = click.style(f"[{Path(path).name} env]", dim=True)

    def on_output(stream: str, line: str) -> None:
        if stream == "env":
            if not quiet:
                click.echo(f"{env_prefix} {line}", err=True)
        else:
            click.echo(line, err=stream == "stderr")

    rc = run_tests(path, pytest_args, env_manager, on_output)
    sys.exit(rc if rc >= 0 else 128 - rc)
