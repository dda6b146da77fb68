"""The `stepline` command. The only layer that prints or exits; each command calls one library function.

Errors have one path: a command raises (a `SteplineError`, or click's own usage errors), the root
group turns a `SteplineError` into a `CliError`, and it prints as one line on stderr,
`error: <message>`, with the exit code of its class (`SteplineError.exit_code`):

    0 ok · 1 failed (a step, a check, a store or env problem) · 2 usage or invalid spec
    3 not found · 4 conflict · 5 refused by a team server · 6 team server unreachable
    130 interrupted

`--debug` (or STEPLINE_DEBUG=1) shows the traceback instead. docs/cli.md has the table.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import warnings
from typing import Any

import click

from stepline import settings

#: command name → (module, attribute); modules load only when their command runs
COMMANDS: dict[str, tuple[str, str]] = {
    "runs": ("stepline.cli.runs", "runs"),
    "artifacts": ("stepline.cli.artifacts", "artifacts"),
    "lineage": ("stepline.cli.artifacts", "lineage"),
    "diff": ("stepline.cli.runs", "diff"),
    "gc": ("stepline.cli.store", "gc"),
    "fsck": ("stepline.cli.store", "fsck"),
    "models": ("stepline.cli.registry", "models"),
    "info": ("stepline.cli.info", "info"),
    "exec": ("stepline.cli.launch", "exec_cmd"),
    "wandb": ("stepline.cli.launch", "wandb_cli"),
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
    "ui": ("stepline.cli.ui", "ui"),
    "watch": ("stepline.cli.watch", "watch"),
    "server": ("stepline.cli.server", "server"),
    "login": ("stepline.cli.server", "login"),
    "users": ("stepline.cli.server", "users"),
    "tokens": ("stepline.cli.server", "tokens"),
    "push": ("stepline.cli.server", "push"),
    "pull": ("stepline.cli.server", "pull"),
    "monitor": ("stepline.cli.monitor", "monitor"),
}


EXIT_CODES_HELP = """\b
Exit codes: 0 ok, 1 failed (a step, check, store or env problem), 2 usage or invalid spec,
3 not found, 4 conflict, 5 refused by a team server (token), 6 team server unreachable,
130 interrupted. Errors print as one line, "error: <message>"
(--debug shows the traceback)."""


class CliError(click.ClickException):
    """A `SteplineError` on its way out of the command: `error: <message>`, its class's exit code."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error
        # click declares exit_code per class; ours depends on the error's class
        self.exit_code = int(getattr(error, "exit_code", 1))  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _show_click_error(exc: click.ClickException) -> None:
    """click's own errors in the same style: usage line, hint, then `error: <message>`."""
    if isinstance(exc, CliError):
        exc.show()
        return
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        hint = ""
        if exc.ctx.command.get_help_option(exc.ctx) is not None:
            hint = f"Try '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}' for help.\n"
        click.echo(f"{exc.ctx.get_usage()}\n{hint}", err=True)
    click.echo(f"error: {exc.format_message()}", err=True)


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        from stepline.errors import SteplineError

        try:
            return super().invoke(ctx)
        except SteplineError as exc:
            if settings.current().debug:
                raise
            raise CliError(exc) from exc

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


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP
)
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
    if debug:  # for the rest of this process (`main`'s error path) and what it starts
        os.environ[settings.DEBUG] = "1"


class _NoticeHandler(logging.Handler):
    """Library notices meant for the user (a store created), one line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"stepline: {record.getMessage()}", err=True)


def _show_notices() -> None:
    notices = logging.getLogger("stepline.store")
    if not any(isinstance(h, _NoticeHandler) for h in notices.handlers):
        notices.addHandler(_NoticeHandler(logging.INFO))
        notices.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: errors become one `error: <message>` line and their class's exit code."""
    from stepline.errors import SteplineError, SteplineWarning

    _show_notices()

    show = warnings.showwarning

    def _warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(category, type) and issubclass(category, SteplineWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            show(message, category, *args, **kwargs)

    warnings.showwarning = _warning
    try:
        return cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        _show_click_error(exc)
        sys.exit(exc.exit_code)
    except SteplineError as exc:  # raised outside a command (STEPLINE_DEBUG re-raises)
        if settings.current().debug:
            raise
        CliError(exc).show()
        sys.exit(CliError(exc).exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
