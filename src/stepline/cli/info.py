"""`stepline info`: where the store is, how it was found, and the run defaults in effect."""

from __future__ import annotations

import click

from stepline.cli import _output as out

HOW = {
    "STEPLINE_DIR": "set by STEPLINE_DIR",
    "found": "found in the project folder",
    "git root": "at the git root (the search stops there)",
    "cwd": "in the working folder (no git repository, no store above)",
}


@click.command("info")
@click.option("--json", "as_json", is_flag=True)
def info(as_json: bool) -> None:
    """Where runs and artifacts go from here: the store, the project and its settings.

    \b
    Example:
      stepline info
      store     /home/me/nyc_airbnb/.stepline (at the git root (the search stops there))
    """
    from stepline._settings import describe

    data = describe()
    if data["exists"]:
        from stepline.tracking.api import Api

        data["projects"] = Api().projects()
    if as_json:
        out.emit_json(data)
        return
    how = HOW.get(str(data["found_by"]), str(data["found_by"]))
    state = "" if data["exists"] else "; not created yet: the first run creates it"
    click.echo(f"store     {data['store']} ({how}{state})")
    click.echo(f"database  {data['database']}")
    click.echo(f"cache     {data['cache']}")
    defaults = data["defaults"]
    assert isinstance(defaults, dict)
    for key, entry in defaults.items():
        if entry["value"] is not None:
            click.echo(f"{key:<9} {entry['value']} (default, from {entry['from']})")
    if "projects" in data:
        projects = [str(p) for p in data["projects"]]  # type: ignore[attr-defined]
        click.echo(f"projects  {', '.join(projects) if projects else '(none yet)'}")
