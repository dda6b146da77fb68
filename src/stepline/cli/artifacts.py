"""`stepline artifacts ls|show|put|get|alias|diff` and `stepline lineage`."""

from __future__ import annotations

from pathlib import Path

import click

from stepline.cli import _output as out
from stepline.formats.refs import parse_ref


def _project_and_ref(ref: str, project: str | None) -> str:
    parsed = parse_ref(ref)
    return parsed.qualified(project) if project and parsed.project is None else ref


@click.group()
def artifacts() -> None:
    """List, inspect, add, fetch and alias artifact versions."""


@artifacts.command("ls")
@click.option("--project", "-p", help="Only this project.")
@click.option("--type", "type_", help="Only artifacts of this type.")
@click.option("--json", "as_json", is_flag=True)
def artifacts_ls(project: str | None, type_: str | None, as_json: bool) -> None:
    """List artifacts with their version count and newest version.

    Example: stepline artifacts ls --project nyc_airbnb
    """
    from stepline.tracking.api import Api

    rows = Api().artifact_collections(project, type_)
    if as_json:
        out.emit_json([vars(a) for a in rows])
        return
    out.table(
        None,
        ["project", "name", "type", "versions", "latest", "created"],
        [
            [
                a.project,
                a.name,
                a.type,
                a.version_count,
                "" if a.latest is None else f"v{a.latest}",
                out.when(a.created_at),
            ]
            for a in rows
        ],
    )


@artifacts.command("show")
@click.argument("ref")
@click.option("--project", "-p")
@click.option("--versions", "all_versions", is_flag=True, help="List every version instead.")
@click.option("--json", "as_json", is_flag=True)
def artifacts_show(ref: str, project: str | None, all_versions: bool, as_json: bool) -> None:
    """Show a version: files, sizes, digests, metadata, producer and consumers.

    Example: stepline artifacts show clean_sample.csv:reference
    """
    from stepline.tracking.api import Api

    api = Api()
    ref = _project_and_ref(ref, project)
    if all_versions:
        versions = api.artifact_versions(ref)
        if as_json:
            out.emit_json([v.to_dict() for v in versions])
            return
        out.table(
            parse_ref(ref).base,
            ["version", "aliases", "files", "size", "digest", "created"],
            [
                [
                    v.version,
                    ", ".join(v.aliases),
                    len(v.files()),
                    out.size(v.size),
                    v.digest[:12],
                    out.when(v.created_at),
                ]
                for v in versions
            ],
        )
        return
    art = api.artifact(ref)
    if as_json:
        out.emit_json(art.to_dict(detail=True))
        return
    producer = art.logged_by()
    consumers = art.used_by()
    manifest = art.manifest()
    c = out.console()
    c.print(f"[bold]{art.qualified_name}[/] ({art.type})  aliases: {', '.join(art.aliases)}")
    c.print(
        f"digest: {art.digest}  size: {out.size(art.size)}  created: {out.when(art.created_at)}"
    )
    if art.description:
        c.print(f"description: {art.description}")
    if art.metadata:
        out.table(
            "metadata", ["key", "value"], [[k, out.fmt(v)] for k, v in sorted(art.metadata.items())]
        )
    out.table(
        "files",
        ["path", "size", "digest"],
        [
            [p, out.size(e.size), (e.ref or "") + ("  " if e.ref else "") + e.digest[:16]]
            for p, e in sorted(manifest.entries.items())
        ],
    )
    c.print(f"logged by: {f'{producer.name} ({producer.id})' if producer else '(no run)'}")
    c.print("used by: " + (", ".join(f"{r.name} ({r.id})" for r in consumers) or "(no run yet)"))


@artifacts.command("put")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", "-n", required=True, help="[PROJECT/]NAME of the artifact.")
@click.option("--type", "-t", "type_", required=True, help="Its type, e.g. raw_data.")
@click.option("--description", "-d")
@click.option("--alias", "-a", "aliases", multiple=True, help="Alias to set (repeatable).")
@click.option("--project", "-p", help="Project (when NAME has none); default: STEPLINE_PROJECT.")
@click.option("--json", "as_json", is_flag=True)
def artifacts_put(
    path: Path,
    name: str,
    type_: str,
    description: str | None,
    aliases: tuple[str, ...],
    project: str | None,
    as_json: bool,
) -> None:
    """Log a file or folder as a new version; content already stored as a version makes none
    and prints "unchanged (vN)".

    Example: stepline artifacts put data/sample1.csv --name nyc_airbnb/sample.csv --type raw_data
    """
    from stepline.backends import open_backend
    from stepline.cli._progress import live
    from stepline.settings import current
    from stepline.tracking.artifact import put_path

    settings = current()
    proj, _, bare = name.rpartition("/")
    proj = proj or project or settings.project or "uncategorized"
    with live():
        art = put_path(
            path, bare, type_, proj, description, aliases, backend=open_backend(settings)
        )
    if as_json:
        out.emit_json(
            {
                "ref": art.qualified_name,
                "digest": art.digest,
                "aliases": art.aliases,
                "created": bool(art.new_version),
            }
        )
    else:
        state = "" if art.new_version else f" unchanged ({art.version}): same content"
        click.echo(
            f"{art.qualified_name}{state}  aliases: {', '.join(art.aliases)}"
            f"  digest: {art.digest[:12]}"
        )


@artifacts.command("get")
@click.argument("ref")
@click.option("--root", type=click.Path(path_type=Path), help="Folder to put the files in.")
@click.option("--project", "-p")
def artifacts_get(ref: str, root: Path | None, project: str | None) -> None:
    """Download a version's files (default ./artifacts/NAME:vN); prints the folder.

    Example: stepline artifacts get nyc_airbnb/random_forest_export:prod --root model
    """
    from stepline.cli._progress import live
    from stepline.tracking.api import Api

    art = Api().artifact(_project_and_ref(ref, project))
    with live():
        folder = art.download(root)
    click.echo(folder)


@artifacts.command("alias")
@click.argument("ref")
@click.argument("alias")
@click.option("--remove", is_flag=True, help="Remove ALIAS from the artifact instead.")
@click.option("--project", "-p")
def artifacts_alias(ref: str, alias: str, remove: bool, project: str | None) -> None:
    """Point ALIAS at a version (moving it from any other), or remove it.

    Example: stepline artifacts alias clean_sample.csv:v0 reference
    """
    from stepline.tracking.api import Api

    api = Api()
    ref = _project_and_ref(ref, project)
    if remove:
        api.remove_alias(ref, alias)
        click.echo(f"removed alias {alias!r} from {ref.split(':')[0]}")
        return
    art = api.set_alias(ref, alias)
    click.echo(f"{art.project}/{art.name}:{alias} -> {art.version}")


@artifacts.command("diff")
@click.argument("ref_a")
@click.argument("ref_b")
@click.option("--json", "as_json", is_flag=True)
def artifacts_diff(ref_a: str, ref_b: str, as_json: bool) -> None:
    """Files added, removed and changed between two versions.

    Example: stepline artifacts diff clean_sample.csv:v0 clean_sample.csv:v3
    """
    from stepline.store.manifest import diff as manifest_diff
    from stepline.tracking.api import Api

    api = Api()
    a, b = api.artifact(ref_a), api.artifact(ref_b)
    changes = manifest_diff(a.manifest(), b.manifest())
    if as_json:
        out.emit_json(
            [
                {
                    "path": c.path,
                    "change": c.kind,
                    "old": c.old.to_json() if c.old else None,
                    "new": c.new.to_json() if c.new else None,
                }
                for c in changes
            ]
        )
        return
    if not changes:
        click.echo(f"{a.qualified_name} and {b.qualified_name} have the same files")
        return
    out.table(
        f"{a.qualified_name} → {b.qualified_name}",
        ["change", "path", "size", "digest"],
        [
            [
                c.kind,
                c.path,
                f"{out.size(c.old.size) if c.old else ''} → {out.size(c.new.size) if c.new else ''}",
                f"{c.old.digest[:10] if c.old else ''} → {c.new.digest[:10] if c.new else ''}",
            ]
            for c in changes
        ],
    )


@click.command()
@click.argument("ref")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "mermaid", "dot", "json"]),
    default="tree",
    show_default=True,
)
@click.option("--depth", type=int, default=10, show_default=True, help="Hops each way.")
def lineage(ref: str, fmt: str, depth: int) -> None:
    """Upstream and downstream of an artifact version or a run.

    Example: stepline lineage random_forest_export:prod --format mermaid
    """
    from stepline.tracking.api import Api
    from stepline.tracking.lineage import label, to_dot, to_mermaid, to_tree

    graph = Api().lineage(ref, depth=depth)
    if fmt == "json":
        out.emit_json(graph.to_json())
    elif fmt == "mermaid":
        click.echo(to_mermaid(graph))
    elif fmt == "dot":
        click.echo(to_dot(graph))
    else:
        up, down = to_tree(graph)
        click.echo(label(graph.nodes[graph.root]))
        click.echo("upstream:" if up else "upstream: (none)")
        for line in up:
            click.echo(line)
        click.echo("downstream:" if down else "downstream: (none)")
        for line in down:
            click.echo(line)
