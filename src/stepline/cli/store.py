"""`stepline gc` and `stepline fsck`."""

from __future__ import annotations

import sys

import click

from stepline.cli import _output as out

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _grace(text: str) -> float:
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    try:
        return float(value[:-1] if unit else value) * (unit or 1)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: write seconds or a duration like 30m, 1h, 2d", param_hint="--grace"
        ) from None


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@click.command()
@click.option(
    "--keep-last",
    type=int,
    help="Keep the N newest versions of each artifact. Versions with an alias or in the "
    "registry are always kept, and so is what an aliased or registered version was made from.",
)
@click.option(
    "--keep-lineage/--no-keep-lineage",
    default=True,
    show_default=True,
    help="Keep the versions an aliased (not 'latest') or registered version was made from, "
    "following its lineage upstream.",
)
@click.option(
    "--grace",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="Unreferenced objects younger than this are kept: they may belong to a version being "
    "logged right now. 0 removes them all (only when nothing else writes to the store).",
)
@click.option("--dry-run", is_flag=True, help="Say what would go, remove nothing.")
@click.option("--json", "as_json", is_flag=True)
def gc(keep_last: int | None, keep_lineage: bool, grace: str, dry_run: bool, as_json: bool) -> None:
    """Remove old versions and the objects nothing refers to.

    Objects are removed only once they are older than the grace period (--grace, default 1h),
    so a store in use is never raced: right after deleting versions, their objects stay until the
    grace has passed, or until `stepline gc --grace 0`.

    Example: stepline gc --keep-last 3 --dry-run
    """
    from stepline.backends import get_backend
    from stepline.tracking.retention import collect

    grace_seconds = _grace(grace)
    report = collect(
        get_backend(),
        keep_last=keep_last,
        keep_lineage=keep_lineage,
        dry_run=dry_run,
        grace_seconds=grace_seconds,
    )
    if as_json:
        data = vars(report).copy()
        data["kept"] = [vars(k) for k in report.kept]
        out.emit_json(data)
        return
    verb = "would remove" if dry_run else "removed"
    for ref in report.versions:
        click.echo(f"{verb} version {ref}")
    lineage_kept = False
    for k in report.kept:
        click.echo(f"kept {k.ref}: {k.reason}")
        lineage_kept = lineage_kept or k.reason.endswith("was made from it")
    if lineage_kept:
        click.echo("  (versions kept for their lineage go with --no-keep-lineage)")
    click.echo(
        f"{verb} {len(report.versions)} versions, {report.objects} objects"
        f" ({out.size(report.bytes)}), {report.tmp_files} temporary files"
    )
    if report.young_objects:
        click.echo(
            f"kept {report.young_objects} unreferenced objects ({out.size(report.young_bytes)})"
            f" younger than the grace period ({_human(report.grace_seconds)}): they may belong to"
            " a version being logged now; --grace 0 removes them when nothing else writes"
            " to the store"
        )


@click.command()
@click.option("--json", "as_json", is_flag=True)
def fsck(as_json: bool) -> None:
    """Re-hash every stored object and check every version's files are present.

    Example: stepline fsck
    """
    from stepline.backends import get_backend
    from stepline.backends.fsck import fsck as run_fsck

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
