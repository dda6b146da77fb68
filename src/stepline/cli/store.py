"""`stepline gc` and `stepline fsck`."""

from __future__ import annotations

import sys

import click

from stepline.cli import _output as out


@click.command()
@click.option(
    "--keep-last",
    type=int,
    help="Keep the N newest versions of each artifact "
    "(versions with an alias or in the registry are always kept).",
)
@click.option("--dry-run", is_flag=True, help="Say what would go, remove nothing.")
@click.option("--json", "as_json", is_flag=True)
def gc(keep_last: int | None, dry_run: bool, as_json: bool) -> None:
    """Remove old versions and objects nothing refers to.

    Example: stepline gc --keep-last 3 --dry-run
    """
    from stepline.backends import get_backend
    from stepline.store.gc import gc as run_gc

    report = run_gc(get_backend(), keep_last=keep_last, dry_run=dry_run)
    if as_json:
        out.emit_json(vars(report))
        return
    verb = "would remove" if dry_run else "removed"
    for ref in report.versions:
        click.echo(f"{verb} version {ref}")
    click.echo(
        f"{verb} {len(report.versions)} versions, {report.objects} objects"
        f" ({out.size(report.bytes)}), {report.tmp_files} temporary files"
    )


@click.command()
@click.option("--json", "as_json", is_flag=True)
def fsck(as_json: bool) -> None:
    """Re-hash every stored object and check every version's files are present.

    Example: stepline fsck
    """
    from stepline.backends import get_backend
    from stepline.store.fsck import fsck as run_fsck

    report = run_fsck(get_backend())
    if as_json:
        out.emit_json({**vars(report), "clean": report.clean})
    else:
        for path in report.corrupt:
            click.echo(f"corrupt object: {path}")
        for item in report.missing:
            click.echo(f"missing object: {item}")
        for ref in report.damaged_versions:
            click.echo(f"damaged version: {ref}")
        state = "clean" if report.clean else "DAMAGED"
        click.echo(
            f"{state}: {report.objects} objects ({out.size(report.bytes)}) checked"
            + (
                f", {report.tmp_files} leftover temporary files (stepline gc removes them)"
                if report.tmp_files
                else ""
            )
        )
    if not report.clean:
        sys.exit(1)
