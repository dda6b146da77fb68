"""`stepline exec -- CMD ...` and `stepline wandb install|uninstall`: `import wandb` outside components."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from stepline.errors import UsageError


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("--project", help="Default project of the command's runs (init(project=) wins).")
@click.option("--group", help="Default group of the command's runs.")
@click.option("--job-type", help="Default job_type of the command's runs.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def exec_cmd(
    project: str | None, group: str | None, job_type: str | None, command: tuple[str, ...]
) -> None:
    """Run COMMAND with `import wandb` tracking into this project's stepline store.

    The command gets stepline's wandb stand-in first on PYTHONPATH and the store in
    STEPLINE_DIR; its exit code is stepline's.

    \b
    Examples:
      stepline exec -- python train.py --lr 0.1
      stepline exec --project exercise_5 -- jupyter execute eda.ipynb
    """
    from stepline._settings import ensure_store
    from stepline.compat.launch import exec_env

    env = exec_env(project=project, group=group, job_type=job_type)
    ensure_store(Path(env["STEPLINE_DIR"]))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], list(command), env)
    except FileNotFoundError:
        raise UsageError(f"stepline exec: no program {command[0]!r} on PATH") from None
    except PermissionError:
        raise UsageError(f"stepline exec: {command[0]!r} is not executable") from None


def _venv(path: str | None) -> Path:
    if path:
        return Path(path).expanduser().resolve()
    active = os.environ.get("VIRTUAL_ENV")
    return Path(active).resolve() if active else Path(sys.prefix)


@click.group("wandb")
def wandb_cli() -> None:
    """Install stepline's wandb stand-in into a venv, so any `import wandb` there uses it."""


@wandb_cli.command("install")
@click.option("--venv", "venv", help="The venv (default: the active one, else stepline's own).")
@click.option("--force", is_flag=True, help="Install even over a real wandb (hides it).")
def wandb_install(venv: str | None, force: bool) -> None:
    """Make `import wandb` in a venv load stepline's stand-in (a .pth file; opt-in).

    Example: stepline wandb install --venv .venv
    """
    from stepline.compat.install import install_dropin

    pth = install_dropin(_venv(venv), force=force)
    click.echo(f"installed the wandb stand-in: {pth}")
    click.echo("undo with: stepline wandb uninstall" + (f" --venv {venv}" if venv else ""))


@wandb_cli.command("uninstall")
@click.option("--venv", "venv", help="The venv (default: the active one, else stepline's own).")
def wandb_uninstall(venv: str | None) -> None:
    """Remove the stand-in from a venv (a real wandb there is visible again).

    Example: stepline wandb uninstall --venv .venv
    """
    from stepline.compat.install import uninstall_dropin

    removed = uninstall_dropin(_venv(venv))
    click.echo(f"removed {removed}" if removed else "the wandb stand-in was not installed there")
