"""`stepline monitor`: drift of current data against a model's reference profile.

Exit codes: 0 no dataset drift, 7 dataset drift (at least --threshold of the features
drifted); an error exits with its own code (docs/cli.md: 2 usage, 3 not found, ...), so cron
and CI can act on drift alone.
"""

from __future__ import annotations

from pathlib import Path

import click

from stepline.cli import _output as _out


@click.command("monitor")
@click.argument("model")
@click.option(
    "--current", help="A profile or table artifact to compare (e.g. new_rows.csv:latest)."
)
@click.option(
    "--window",
    type=click.Choice(["last"]),
    help="Compare the newest window captured by `stepline serve --capture`.",
)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A CSV or Parquet file of rows; the model scores it for prediction drift.",
)
@click.option(
    "--threshold",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Share of drifted features at which the dataset drifts (and the exit code is 7).",
)
@click.option(
    "--stattest-threshold",
    type=float,
    help="p-value (ks, chisquare, z) or distance (wasserstein, jensenshannon, psi) limit for "
    "every column; default: the method's (0.05 or 0.1).",
)
@click.option(
    "--method",
    type=click.Choice(["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]),
    help="One drift method for every column (categorical columns keep theirs for ks and "
    "wasserstein); default: chosen per column by type and size as Evidently does.",
)
@click.option("--project", help="Project of the monitor run (default: the model's).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def monitor(
    model: str,
    current: str | None,
    window: str | None,
    file: Path | None,
    threshold: float,
    stattest_threshold: float | None,
    method: str | None,
    project: str | None,
    as_json: bool,
) -> None:
    """Compare current data with MODEL's reference profile; log a `monitor` run and report.

    MODEL is an artifact reference (random_forest_export:prod) or a package directory. Give
    one of --current, --window last or --file. Exits 7 when the dataset drifted.

    \b
    Examples:
      stepline monitor random_forest_export:prod --window last
      stepline monitor random_forest_export:prod --file data/sample2.csv --threshold 0.3
    """
    from stepline.backends import get_backend
    from stepline.errors import UsageError
    from stepline.monitor.runner import run_monitor

    if sum(x is not None for x in (current, window, file)) != 1:
        raise UsageError("give one of --current ARTIFACT, --window last or --file ROWS.csv")
    result = run_monitor(
        get_backend(),
        model,
        current,
        window=window,
        file=file,
        drift_share=threshold,
        threshold=stattest_threshold,
        method=method,
        project=project,
    )
    report = result.report
    if as_json:
        _out.emit_json(
            {
                **report.to_dict(),
                "run": f"{result.project}/{result.run_id}",
                "report": result.report_ref,
                "exit_code": result.exit_code,
            }
        )
    else:
        rows = [*report.features, *([report.prediction] if report.prediction else [])]
        _out.table(
            f"Drift of {result.current} against {model}",
            ["column", "method", "score", "threshold", "drift"],
            [
                [f.column, f.method, f"{f.score:.4g}", f.threshold, "DRIFT" if f.drifted else ""]
                for f in rows
            ],
        )
        verdict = "[bold red]dataset drift[/]" if report.drifted else "[green]no dataset drift[/]"
        _out.console().print(
            f"{verdict}: {len(report.drifted_columns)} of {len(report.features)} features "
            f"({report.share:.0%}; threshold {report.drift_share:.0%}). Run "
            f"{result.project}/{result.run_id}, report {result.report_ref}",
            highlight=False,
        )
    raise SystemExit(result.exit_code)
