"""An HTTP scoring server for a loaded model package, speaking MLflow's protocol.

    GET  /ping, /health   200 when the model is loaded
    GET  /version         stepline's version
    POST /invocations     see `stepline.models.payload`; answers {"predictions": [...]}

Errors have one JSON shape: `{"error_code": "...", "message": "...", "column": ...?}` (MLflow's
`error_code`/`message`, plus the offending column when there is one): 400 `INVALID_PARAMETER_VALUE`
for input that does not match the signature, 400 `BAD_REQUEST` for a bad payload or a model that
fails on the rows (both as MLflow's scoring server), 415 for another Content-Type.

Example:
    >>> app = create_app(stepline.models.load("random_forest_export:prod"))
    >>> uvicorn.run(app, host="127.0.0.1", port=5000)
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at
# definition time, and `Request` is imported inside `create_app` (fastapi is an extra).
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from stepline.errors import ModelError, require
from stepline.models.package import PackagedModel
from stepline.models.payload import (
    PayloadError,
    UnsupportedContentType,
    parse_request,
    predictions_body,
)
from stepline.models.signature import SignatureError


def _version() -> str:
    from stepline import __version__

    return __version__


def _error(status: int, code: str, message: str, column: str | None = None) -> Any:
    from fastapi.responses import JSONResponse

    body: dict[str, Any] = {"error_code": code, "message": message}
    if column is not None:
        body["column"] = column
    return JSONResponse(body, status_code=status)


def create_app(model: PackagedModel) -> Any:
    """Return a FastAPI application serving `model`."""
    require("fastapi", "server")
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title="stepline model server", version=_version(), docs_url=None, redoc_url=None)
    app.state.model = model
    schema = model.input_schema

    @app.get("/ping")
    def ping() -> PlainTextResponse:
        return PlainTextResponse("\n")

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "model_uuid": model.model_uuid})

    @app.get("/version")
    def version() -> PlainTextResponse:
        return PlainTextResponse(_version())

    def score(body: bytes, content_type: str | None) -> Any:
        data, params = parse_request(body, content_type, schema)
        return predictions_body(model.predict(data, params=params))

    @app.post("/invocations")
    async def invocations(request: Request) -> Any:
        body = await request.body()
        try:
            result = await run_in_threadpool(score, body, request.headers.get("content-type"))
        except UnsupportedContentType as exc:
            return _error(415, "UNSUPPORTED_MEDIA_TYPE", str(exc))
        except SignatureError as exc:
            return _error(400, "INVALID_PARAMETER_VALUE", str(exc), exc.column)
        except PayloadError as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        except ModelError as exc:
            # As MLflow: a model that fails on the given rows is reported as a bad request.
            return _error(
                400,
                "BAD_REQUEST",
                f"{exc}. Check that the input is compatible with the model (its signature: "
                f"{schema.column_names() if schema is not None else 'none recorded'})",
            )
        return JSONResponse(result)

    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
) -> Iterator[str]:
    """Run `app` with uvicorn in a background thread; yield its base URL, stop on exit.

    Used by tests and benchmarks; `stepline serve` runs uvicorn in the foreground instead.
    """
    require("uvicorn", "server")
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise ModelError(f"the model server did not start on {host}:{bound}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
