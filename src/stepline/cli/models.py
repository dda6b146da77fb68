"""`stepline serve` and `stepline predict`: serve a model package over HTTP, score a CSV.

MODEL is a package directory, an artifact reference (`random_forest_export:prod`) or a registry
reference (`NAME@prod`, once the registry installs its resolver through
`stepline.models.set_registry_resolver`).

The package is loaded in the environment it was saved with (`stepline.models.model_env`):
when stepline's interpreter lacks its pins, the command runs again in a uv env built from the
package's python_env.yaml (exec, so signals and the exit code are the server's own).
`--env-manager local` loads it in stepline's interpreter whatever it pins.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from stepline.cli import _output as _out

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


class _Size(click.ParamType):
    """A byte count: `1048576`, `512KiB`, `64MiB`, `1GiB` (also K/M/G, KB/MB/GB as powers of 2)."""

    name = "size"
    _UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        for suffix in ("ib", "b"):
            if text.endswith(suffix) and text[: -len(suffix)][-1:] in "kmg":
                text = text[: -len(suffix)]
                break
        unit = text[-1:] if text[-1:] in "kmg" else ""
        number = text[:-1] if unit else text
        if not number.isdigit() or int(number) == 0:
            self.fail(
                f"{value!r} is not a size; give bytes or e.g. 512KiB, 64MiB, 1GiB", param, ctx
            )
        return int(number) * self._UNITS[unit]


def _env_manager_option(func: Any) -> Any:
    return click.option(
        "--env-manager",
        type=click.Choice(["uv", "virtualenv", "conda", "local"]),
        default="uv",
        show_default=True,
        help="Where to load the model: 'uv' (or MLflow's 'virtualenv'/'conda') builds the env "
        "the package pins when this interpreter lacks it; 'local' uses stepline's own.",
    )(func)


def _trust_args(trust: bool, trust_types: tuple[str, ...]) -> list[str]:
    args = ["--trust"] if trust else []
    for name in trust_types:
        args += ["--trust-type", name]
    return args


def _capture_args(
    capture: bool, sample: float, window_rows: int, window_seconds: float, capture_rows: bool
) -> list[str]:
    if not capture:
        return []
    args = ["--capture", "--sample", str(sample), "--window-rows", str(window_rows)]
    args += ["--window-seconds", str(window_seconds)]
    return [*args, "--capture-rows"] if capture_rows else args


def _in_model_env(model: str, env_manager: str, build_args: Callable[[Path], list[str]]) -> Path:
    """The package directory of `model`; when it needs its own env, re-run there (no return)."""
    from stepline.models import resolve_model_dir
    from stepline.models.model_env import model_env

    console = _out.console(stderr=True)
    package = resolve_model_dir(model)
    menv = model_env(
        package, env_manager, on_log=lambda line: console.print(line, style="dim", markup=False)
    )
    if menv.local:
        return package
    console.print(f"Loading {model} in its own env: {menv.reason}", highlight=False)
    args = menv.argv(build_args(package))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(args[0], args, menv.env)


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
@click.option(
    "--max-body-size",
    default="64MiB",
    show_default=True,
    type=_Size(),
    help="Largest request body accepted; larger ones get 413 (e.g. 512KiB, 64MiB, 1GiB).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port (uvicorn workers); more serve more clients at once.",
)
@click.option(
    "--capture",
    is_flag=True,
    help="Record served inputs and predictions as profile artifacts (<model>.capture), in "
    "windows, for `stepline monitor MODEL --window last`.",
)
@click.option(
    "--sample",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Share of requests captured.",
)
@click.option(
    "--window-rows",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="A capture window closes after this many rows...",
)
@click.option(
    "--window-seconds",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="...or this many seconds, whichever comes first.",
)
@click.option("--capture-rows", is_flag=True, help="Also store the captured rows (rows.csv).")
@click.option(
    "--batch/--no-batch",
    default=True,
    show_default=True,
    help="Score requests that arrive together in one predict call (row-wise models).",
)
@click.option("--capture-as", hidden=True, help="The model reference captures are named after.")
@_env_manager_option
def serve(
    model: str,
    host: str,
    port: int,
    trust: bool,
    trust_types: tuple[str, ...],
    log_level: str,
    max_body_size: int,
    workers: int,
    capture: bool,
    sample: float,
    window_rows: int,
    window_seconds: float,
    capture_rows: bool,
    batch: bool,
    capture_as: str | None,
    env_manager: str,
) -> None:
    """Serve MODEL over HTTP with MLflow's scoring protocol.

    Endpoints: GET /ping, /health, /version and POST /invocations. Requests that arrive
    together are scored in one predict call (--no-batch: one by one). With --capture, a
    sample of the served rows and predictions is profiled, in windows, into versions of
    the artifact MODEL.capture, which `stepline monitor MODEL --window last` compares with
    the model's training data.

    \b
    Example:
      stepline serve random_forest_export:prod --port 5000
      stepline serve random_forest_export:prod --workers 2 --capture --sample 0.1
      curl -s localhost:5000/invocations -H 'Content-Type: application/json' \\
        -d '{"dataframe_records": [{"neighbourhood_group": "Bronx", ...}]}'
    """

    from stepline.errors import require
    from stepline.models import load
    from stepline.models.serving import (
        SERVE_CONFIG_ENV,
        ServeConfig,
        create_app,
        make_capture,
    )

    package = _in_model_env(
        model,
        env_manager,
        lambda pkg: [
            *("serve", str(pkg), "--env-manager", "local", "--host", host, "--port", str(port)),
            *("--log-level", log_level, "--max-body-size", str(max_body_size)),
            *("--workers", str(workers), "--batch" if batch else "--no-batch"),
            *_capture_args(capture, sample, window_rows, window_seconds, capture_rows),
            *("--capture-as", capture_as or model),
            *_trust_args(trust, trust_types),
        ],
    )
    config = ServeConfig(
        package=str(package),
        trust=_trust(trust, trust_types),
        max_body_size=max_body_size,
        capture=(
            {
                "model": capture_as or model,
                "sample": sample,
                "window_rows": window_rows,
                "window_seconds": window_seconds,
                "capture_rows": capture_rows,
            }
            if capture
            else None
        ),
        batch=batch,
    )
    require("uvicorn", "server")
    loaded = load(package, trust=config.trust)
    app = create_app(loaded, max_body_size=max_body_size, capture=make_capture(config), batch=batch)
    import uvicorn

    console = _out.console(stderr=True)
    captured = (
        f", capturing {sample:.0%} of requests as {config.capture['model']}.capture"
        if config.capture
        else ""
    )
    console.print(
        f"Serving [bold]{model}[/] ({loaded.path}) on [cyan]http://{host}:{port}[/] with "
        f"{workers} worker{'s' if workers > 1 else ''}{captured}: "
        "POST /invocations, GET /ping /health /version"
    )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    os.environ[SERVE_CONFIG_ENV] = config.to_json()
    uvicorn.run(
        "stepline.models.serving:app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        workers=workers,
        http="stepline.models._protocol:NoDelayHTTPProtocol",
    )


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
@_env_manager_option
def predict(
    model: str,
    input_csv: Path,
    output: Path,
    keep_columns: bool,
    trust: bool,
    trust_types: tuple[str, ...],
    as_json: bool,
    env_manager: str,
) -> None:
    """Score every row of INPUT_CSV with MODEL and write the predictions as CSV.

    \b
    Example:
      stepline predict random_forest_export:prod test_data.csv -o scored.csv
    """

    from stepline.models.predict import predict as batch_predict

    package = _in_model_env(
        model,
        env_manager,
        lambda pkg: [
            *("predict", str(pkg), str(input_csv), "-o", str(output), "--env-manager", "local"),
            *(["--keep-columns"] if keep_columns else []),
            *(["--json"] if as_json else []),
            *_trust_args(trust, trust_types),
        ],
    )
    result = batch_predict(
        package,
        input_csv,
        output,
        trust=_trust(trust, trust_types),
        keep_columns=keep_columns,
    )
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
