"""`stepline env build|ls|prune|dockerfile`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from stepline.cli import _output as out
from stepline.cli._constraints import apply_constraints, constraint_option


@click.group("env")
def cli() -> None:
    """Build, list and prune component environments."""


@cli.command("build")
@click.argument("path", type=click.Path(exists=True))
@click.option("--env-manager", type=click.Choice(["uv", "conda"]), help="Default: from the spec.")
@click.option("--refresh", is_flag=True, help="Re-resolve the lock even if one is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@constraint_option
def build(
    path: str, env_manager: str | None, refresh: bool, as_json: bool, constraints: tuple[str, ...]
) -> None:
    """Build (or reuse) the env of a component directory or spec file, streaming the log.

    Example: stepline env build components/get_data -c 'numpy<2.4'
    """
    from stepline.cli._progress import live
    from stepline.components.environment import build_path

    apply_constraints(constraints)
    started = time.perf_counter()
    with live() as bars:

        def on_log(line: str) -> None:
            bars.env_line(line)
            if not as_json:
                click.echo(click.style(line, dim=True), err=True)

        active = build_path(Path(path), env_manager, on_log=on_log, refresh=refresh)
    built = active.built
    data = {
        "digest": active.plan.digest,
        "manager": active.plan.manager,
        "path": str(built.path) if built else None,
        "python": built.interpreter.version if built else None,
        "built_now": bool(built and built.built_now),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        out.emit_json(data)
        return
    state = "built" if data["built_now"] else "reused"
    click.echo(f"{state} env {active.plan.digest[:12]} (Python {data['python']}) at {data['path']}")


@cli.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls(as_json: bool) -> None:
    """List built envs: digest, Python, size, last used, components.

    Example: stepline env ls
    """
    from stepline.envs.registry import list_envs

    envs = list_envs()
    if as_json:
        out.emit_json(
            [
                {
                    "digest": e.digest,
                    "python": e.python,
                    "size": e.size,
                    "last_used": e.last_used,
                    "created": e.created,
                    "role": e.role,
                    "components": e.components,
                    "path": str(e.path),
                }
                for e in envs
            ]
        )
        return
    rows = [
        (
            e.digest[:12],
            e.python,
            out.size(e.size),
            out.when(e.last_used),
            ", ".join(e.components) or f"({e.role})",
        )
        for e in envs
    ]
    out.table("environments", ["digest", "python", "size", "last used", "components"], rows)


@cli.command("prune")
@click.option("--unused-for", default="30d", show_default=True, help="e.g. 30d, 12h, 2w.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def prune(unused_for: str, dry_run: bool) -> None:
    """Delete envs not used for a while.

    Example: stepline env prune --unused-for 30d
    """
    from stepline.envs.registry import parse_duration
    from stepline.envs.registry import prune as do_prune

    removed = do_prune(parse_duration(unused_for), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for env in removed:
        click.echo(
            f"{verb} {env.digest[:12]} ({out.size(env.size)}, last used {out.when(env.last_used)})"
        )
    freed = sum(e.size for e in removed)
    click.echo(f"{verb} {len(removed)} env(s), {out.size(freed)}")


@cli.command("dockerfile")
@click.argument("path", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(), help="Write Dockerfile + lock files here.")
@click.option("--base-image", help="Default: python:X.Y-slim for the env's Python.")
def dockerfile(path: str, output: str | None, base_image: str | None) -> None:
    """A Dockerfile that reproduces the env of PATH from its lock.

    Example: stepline env dockerfile components/get_data -o build/get_data
    """
    from stepline.components.environment import plan_path
    from stepline.envs.dockerfile import dockerfile as make

    plan = plan_path(Path(path))
    if plan.lock is None:
        raise click.UsageError(f"{path}: a {plan.manager} env has no lock to reproduce")
    files = make(plan.lock, base_image)
    if output is None:
        click.echo(files["Dockerfile"], nl=False)
        return
    target = Path(output)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
        click.echo(f"wrote {target / name}")
