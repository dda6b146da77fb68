"""The `stepline` command. The only layer that prints or exits; each command calls one library function."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

#: command name → (module, attribute); modules load only when their command runs
COMMANDS: dict[str, tuple[str, str]] = {
    "runs": ("stepline.cli.runs", "runs"),
    "artifacts": ("stepline.cli.artifacts", "artifacts"),
    "lineage": ("stepline.cli.artifacts", "lineage"),
    "diff": ("stepline.cli.runs", "diff"),
    "gc": ("stepline.cli.store", "gc"),
    "fsck": ("stepline.cli.store", "fsck"),
    "models": ("stepline.cli.registry", "models"),
}
#: commands that other parts of stepline add when they are installed
OPTIONAL: dict[str, tuple[str, str]] = {
    "component": ("stepline.cli.component", "cli"),
    "env": ("stepline.cli.env", "cli"),
    "run": ("stepline.cli.pipeline", "run"),
    "pipeline": ("stepline.cli.pipeline", "pipeline"),
    "why": ("stepline.cli.pipeline", "why"),
    "serve": ("stepline.cli.models", "serve"),
    "predict": ("stepline.cli.models", "predict"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(COMMANDS)
        for name, (module, _) in OPTIONAL.items():
            if importlib.util.find_spec(module) is not None:
                names.add(name)
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name) or OPTIONAL.get(name)
        if target is None:
            return None
        try:
            module = importlib.import_module(target[0])
        except ModuleNotFoundError as exc:
            if exc.name == target[0]:
                return None
            raise
        cmd = getattr(module, target[1], None)
        return cmd if isinstance(cmd, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stepline")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """stepline: versioned artifacts, tracked runs and pipelines, stored in .stepline/.

    \b
    Examples:
      stepline runs ls --project nyc_airbnb --sort -summary.r2
      stepline artifacts put data/sample1.csv --name nyc_airbnb/sample.csv --type raw_data
      stepline lineage random_forest_export:prod
    """
    if debug:
        os.environ["STEPLINE_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> Any:
    """Entry point: stepline errors become one line on stderr and exit code 1 (2 for usage)."""
    from stepline.errors import SteplineError, UsageError

    try:
        return cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SteplineError as exc:
        if os.environ.get("STEPLINE_DEBUG"):
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2 if isinstance(exc, UsageError) else 1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
