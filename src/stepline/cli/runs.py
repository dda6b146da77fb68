"""`stepline runs ls|show` and `stepline diff`."""

from __future__ import annotations

from typing import Any

import click

from stepline.cli import _output as out


@click.group()
def runs() -> None:
    """List and inspect runs."""


@runs.command("ls")
@click.option("--project", "-p", help="Only this project.")
@click.option("--group", "-g", help="Only this group (experiment).")
@click.option("--job-type", "-j", help="Only this job type.")
@click.option(
    "--state", help="Only runs in this state (running, finished, failed, crashed, cached)."
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="config.x=1, summary.mae<0.5 style filters (=, !=, <, <=, >, >=).",
)
@click.option(
    "--sort",
    "sort",
    default="-created_at",
    show_default=True,
    help="Order key, '-' for descending: -summary.r2, config.lr, created_at.",
)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs_ls(
    project: str | None,
    group: str | None,
    job_type: str | None,
    state: str | None,
    filters: tuple[str, ...],
    sort: str,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first.

    Example: stepline runs ls --project nyc_airbnb --job-type train --sort -summary.r2
    """
    from stepline.metadata.query import parse_condition
    from stepline.tracking.api import Api

    query: dict[str, Any] = {}
    if group:
        query["group"] = group
    if job_type:
        query["job_type"] = job_type
    if state:
        query["state"] = state
    for f in filters:
        key, op, value = parse_condition(f)
        query.setdefault(key, {})[op] = value
    found = Api().runs(project, filters=query, order=sort, limit=limit)
    if as_json:
        out.emit_json([r.to_dict() for r in found])
        return
    metric_keys: list[str] = []
    for r in found:
        for k, v in r.summary.items():
            if isinstance(v, int | float) and k not in metric_keys and len(metric_keys) < 4:
                metric_keys.append(k)
    rows = [
        [
            r.id,
            r.name,
            r.project,
            r.group,
            r.job_type,
            r.state,
            out.when(r.created_at),
            out.duration(r.created_at, r.ended_at),
            *[out.fmt(r.summary.get(k)) for k in metric_keys],
        ]
        for r in found
    ]
    out.table(
        None,
        ["id", "name", "project", "group", "job_type", "state", "created", "took", *metric_keys],
        rows,
    )


@runs.command("show")
@click.argument("run")
@click.option("--project", "-p", help="Project, when RUN is a name used in several.")
@click.option("--logs", is_flag=True, help="Print the captured stdout and stderr.")
@click.option("--history", is_flag=True, help="Print every logged row.")
@click.option("--media", is_flag=True, help="List the logged images and tables (key, step, file).")
@click.option("--json", "as_json", is_flag=True)
def runs_show(
    run: str, project: str | None, logs: bool, history: bool, media: bool, as_json: bool
) -> None:
    """Show one run: config, summary, inputs, outputs (and logs, history, media).

    Example: stepline runs show 3kq9x0ab --logs

    Logged media are read back with `stepline.Api().run(ID).file(NAME).download()`.
    """
    from stepline.tracking.api import Api

    api = Api()
    r = api.run(f"{project}/{run}" if project else run)
    inputs = [a.qualified_name for a in r.used_artifacts()]
    outputs = [a.qualified_name for a in r.logged_artifacts()]
    if as_json:
        data = r.to_dict()
        data.update(inputs=inputs, outputs=outputs)
        if history:
            data["history"] = r.history()
        if logs:
            data["logs"] = {s: r.logs(s) for s in ("stdout", "stderr", "build")}
        if media:
            data["media"] = [m.to_dict() for m in r.media()]
        out.emit_json(data)
        return
    c = out.console()
    c.print(
        f"[bold]{r.name}[/] ({r.project}/{r.id})  state: {r.state}"
        f"  exit: {'' if r.exit_code is None else r.exit_code}"
    )
    c.print(f"group: {r.group or ''}  job_type: {r.job_type or ''}  tags: {', '.join(r.tags)}")
    c.print(
        f"started: {out.when(r.created_at)}  ended: {out.when(r.ended_at)}"
        f"  took: {out.duration(r.created_at, r.ended_at)}"
    )
    c.print(
        f"host: {r.host}  python: {r.python_version}  git: {r.git_commit or ''}"
        f"{' (dirty)' if r.git_dirty else ''}"
    )
    c.print(f"command: {r.command}")
    if r.info.get("lost_points"):
        c.print(
            f"[red]lost {r.info['lost_points']:,} of {r.info.get('logged_points', r.info['lost_points']):,} metric"
            f" points[/] ({r.info.get('lost_reason', 'unknown')})",
            markup=True,
        )
    if r.notes:
        c.print(f"notes: {r.notes}")
    for title, data in (("config", r.config), ("summary", r.summary), ("info", r.info)):
        if data:
            out.table(title, ["key", "value"], [[k, out.fmt(v)] for k, v in sorted(data.items())])
    out.table("inputs", ["artifact"], [[i] for i in inputs]) if inputs else None
    out.table("outputs", ["artifact"], [[o] for o in outputs]) if outputs else None
    if history:
        rows = r.history()
        keys = sorted({k for row in rows for k in row if not k.startswith("_")})
        out.table(
            "history",
            ["step", *keys],
            [[row["_step"], *[out.fmt(row.get(k)) for k in keys]] for row in rows],
        )
    if media:
        found = r.media()
        if found:
            out.table(
                "media",
                ["key", "step", "type", "file", "size"],
                [[m.key, m.step, m.type, m.name, out.size(m.size)] for m in found],
            )
        else:
            c.print("media: none logged")
    if logs:
        for stream in ("build", "stdout", "stderr"):
            text = r.logs(stream)
            if text:
                c.rule(stream)
                click.echo(text, nl=not text.endswith("\n"))


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--all", "show_all", is_flag=True, help="Also show keys that are the same.")
@click.option("--json", "as_json", is_flag=True)
def diff(run_a: str, run_b: str, show_all: bool, as_json: bool) -> None:
    """Compare two runs: config, code, environment, inputs, outputs and metrics.

    Example: stepline diff 3kq9x0ab 7pz1c2de
    """
    from stepline.tracking.api import Api
    from stepline.tracking.diff import diff_runs

    api = Api()
    a, b = api.run(run_a), api.run(run_b)
    result = diff_runs(api.backend, a.record, b.record)
    if as_json:
        out.emit_json(result)
        return
    for section, rows in result.items():
        shown = [r for r in rows if show_all or not r["same"]]
        if shown:
            out.table(
                section,
                ["key", a.name, b.name],
                [[r["key"], out.fmt(r["a"]), out.fmt(r["b"])] for r in shown],
            )
    if all(r["same"] for rows in result.values() for r in rows if rows is not result["run"]):
        click.echo("no differences beyond the runs' identity")
