"""`stepline serve` and `stepline predict`: serve a model package over HTTP, score a CSV.

MODEL is a package directory, an artifact reference (`random_forest_export:prod`) or a registry
reference (`NAME@prod`, once the registry installs its resolver through
`stepline.models.set_registry_resolver`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from stepline.cli import _output as _out
from stepline.errors import SteplineError

_TRUST_HELP = (
    "Also load pickle/cloudpickle packages and skops types that are not known safe. "
    "Loading them runs code from the package: only for packages you trust."
)
_TRUST_TYPE_HELP = (
    "Trust one more type or function a skops package needs (repeatable), e.g. "
    "--trust-type features.delta_date_feature."
)


def _trust(trust: bool, trust_types: tuple[str, ...]) -> bool | list[str]:
    return True if trust else list(trust_types)


@click.command("serve")
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", "-p", default=5000, show_default=True, type=int, help="TCP port.")
@click.option("--trust", is_flag=True, help=_TRUST_HELP)
@click.option("--trust-type", "trust_types", multiple=True, help=_TRUST_TYPE_HELP)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(
    model: str, host: str, port: int, trust: bool, trust_types: tuple[str, ...], log_level: str
) -> None:
    """Serve MODEL over HTTP with MLflow's scoring protocol.

    Endpoints: GET /ping, /health, /version and POST /invocations.

    \b
    Example:
      stepline serve random_forest_export:prod --port 5000
      curl -s localhost:5000/invocations -H 'Content-Type: application/json' \\
        -d '{"dataframe_records": [{"neighbourhood_group": "Bronx", ...}]}'
    """

    from stepline.errors import require
    from stepline.models import load
    from stepline.models.serving import create_app

    try:
        require("uvicorn", "server")
        loaded = load(model, trust=_trust(trust, trust_types))
        app = create_app(loaded)
    except SteplineError as exc:
        raise click.ClickException(str(exc)) from exc
    import uvicorn

    console = _out.console(stderr=True)
    console.print(
        f"Serving [bold]{model}[/] ({loaded.path}) on [cyan]http://{host}:{port}[/]: "
        "POST /invocations, GET /ping /health /version"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@click.command("predict")
@click.argument("model")
@click.argument("input_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV file to write the predictions to.",
)
@click.option("--keep-columns", is_flag=True, help="Write the input columns before predictions.")
@click.option("--trust", is_flag=True, help=_TRUST_HELP)
@click.option("--trust-type", "trust_types", multiple=True, help=_TRUST_TYPE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def predict(
    model: str,
    input_csv: Path,
    output: Path,
    keep_columns: bool,
    trust: bool,
    trust_types: tuple[str, ...],
    as_json: bool,
) -> None:
    """Score every row of INPUT_CSV with MODEL and write the predictions as CSV.

    \b
    Example:
      stepline predict random_forest_export:prod test_data.csv -o scored.csv
    """

    from stepline.models.predict import predict as batch_predict

    try:
        result = batch_predict(
            model,
            input_csv,
            output,
            trust=_trust(trust, trust_types),
            keep_columns=keep_columns,
        )
    except SteplineError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(
            json.dumps(
                {
                    "rows": result.rows,
                    "output": str(result.output),
                    "columns": result.columns,
                    "model": str(result.model_path),
                }
            )
        )
        return
    _out.console().print(
        f"Scored [bold]{result.rows}[/] rows with {result.model_path} → {result.output}"
    )


COMMANDS = [serve, predict]


@click.group("models-serving")
def cli() -> None:
    """Serve a model package and score CSV files (registered as `stepline serve|predict`)."""


for _command in COMMANDS:
    cli.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    cli()
