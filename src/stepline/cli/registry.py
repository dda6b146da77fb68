"""`stepline models register|ls|show|alias`: the model registry."""

from __future__ import annotations

import click

from stepline.cli import _output as out


@click.group()
def models() -> None:
    """Register artifact versions as model versions and move aliases between them."""


@models.command("register")
@click.argument("artifact_ref")
@click.argument("name")
@click.option(
    "--alias", "-a", "aliases", multiple=True, help="Alias for the new version (repeatable)."
)
@click.option("--description", "-d")
def models_register(
    artifact_ref: str, name: str, aliases: tuple[str, ...], description: str | None
) -> None:
    """Register ARTIFACT_REF as the next version of model NAME.

    Example: stepline models register random_forest_export:v3 rental_prices --alias prod
    """
    from stepline import registry

    mv = registry.register(artifact_ref, name, aliases, description)
    click.echo(
        f"{name}:v{mv.version} -> {mv.artifact_ref}"
        + (f"  aliases: {', '.join(mv.aliases)}" if mv.aliases else "")
    )


@models.command("ls")
@click.option("--json", "as_json", is_flag=True)
def models_ls(as_json: bool) -> None:
    """List registered models.

    Example: stepline models ls
    """
    from stepline import registry

    found = registry.list_models()
    if as_json:
        out.emit_json([m.to_dict() for m in found])
        return
    out.table(
        None,
        ["name", "versions", "aliases", "description"],
        [
            [
                m.name,
                len(m.versions),
                ", ".join(f"{a}→v{v.version}" for v in m.versions for a in v.aliases),
                m.description or "",
            ]
            for m in found
        ],
    )


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def models_show(name: str, as_json: bool) -> None:
    """Show a registered model's versions, the artifact versions they point at, and aliases.

    Example: stepline models show rental_prices
    """
    from stepline import registry

    m = registry.show(name)
    if as_json:
        out.emit_json(m.to_dict(detail=True))
        return
    out.table(
        m.name,
        ["version", "artifact", "aliases", "registered"],
        [
            [f"v{v.version}", v.artifact_ref, ", ".join(v.aliases), out.when(v.created_at)]
            for v in m.versions
        ],
    )


@models.command("alias")
@click.argument("ref")
@click.argument("alias")
@click.option("--remove", is_flag=True)
def models_alias(ref: str, alias: str, remove: bool) -> None:
    """Point ALIAS at a model version: `stepline models alias NAME:v2 prod`.

    Example: stepline models alias rental_prices:v2 prod
    """
    from stepline import registry
    from stepline.backends import get_backend
    from stepline.formats.refs import parse_model_ref

    parsed = parse_model_ref(ref)
    name, version = parsed.name, parsed.version
    if remove:
        get_backend().remove_model_alias(name, alias)
        click.echo(f"removed alias {alias!r} from model {name}")
        return
    if version is None:
        raise click.BadParameter("write NAME:vK", param_hint="REF")
    registry.set_alias(name, version, alias)
    click.echo(f"{name}@{alias} -> v{version}")
