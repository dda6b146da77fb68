"""An HTTP scoring server for a loaded model package, speaking MLflow's protocol.

    GET  /ping, /health   200 when the model is loaded
    GET  /version         stepline's version
    POST /invocations     see `stepline.models.payload`; answers {"predictions": [...]}

Errors have one JSON shape: `{"error_code": "...", "message": "...", "column": ...?}` (MLflow's
`error_code`/`message`, plus the offending column when there is one): 400 `INVALID_PARAMETER_VALUE`
for input that does not match the signature, 400 `BAD_REQUEST` for a body that cannot be parsed
(bad JSON or CSV, nesting too deep, integers too long) or a model that fails on the rows (both as
MLflow's scoring server), 413 `REQUEST_LIMIT_EXCEEDED` for a body over `max_body_size` (checked
from Content-Length, and while a chunked body is read, so no more than the limit is buffered),
415 for another Content-Type. `/openapi.json` describes the endpoints.

Example:
    >>> app = create_app(stepline.models.load("random_forest_export:prod"))
    >>> uvicorn.run(app, host="127.0.0.1", port=5000)
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at
# definition time, and fastapi is imported inside `create_app` (it is an extra).
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from stepline.errors import ModelError, SteplineError, require
from stepline.models.package import PackagedModel
from stepline.models.payload import (
    PayloadError,
    UnsupportedContentType,
    parse_request,
    predictions_body,
)
from stepline.models.signature import Schema, SignatureError


def _version() -> str:
    from stepline._version import __version__

    return __version__


#: the default request body limit (64 MiB); `stepline serve --max-body-size` changes it
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024

_ROWS: dict[str, Any] = {"type": "array", "items": {}}
_JSON_TYPES = {
    "integer": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
}


def _row_schema(schema: Schema | None) -> dict[str, Any]:
    """JSON Schema of one `dataframe_records` row, from the model's signature when it has one."""
    if schema is None or schema.is_tensor or not schema.column_names():
        return {"type": "object"}
    properties: dict[str, Any] = {}
    for col in schema.columns:
        json_type = _JSON_TYPES.get(col.type, "string")
        properties[str(col.name)] = {"type": json_type if col.required else [json_type, "null"]}
    required = [str(c.name) for c in schema.columns if c.required]
    return {"type": "object", "properties": properties, "required": required}


def _request_body(schema: Schema | None) -> dict[str, Any]:
    """The OpenAPI requestBody of /invocations: one of MLflow's four JSON shapes, or a CSV."""

    def one(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {key: value, "params": {"type": "object"}},
            "required": [key],
            "additionalProperties": False,
        }

    split = {
        "type": "object",
        "properties": {"columns": _ROWS, "data": _ROWS, "index": _ROWS},
        "required": ["data"],
        "additionalProperties": False,
    }
    shapes = [
        one("dataframe_split", split),
        one("dataframe_records", {"type": "array", "items": _row_schema(schema)}),
        one("instances", _ROWS),
        one("inputs", {"oneOf": [_ROWS, {"type": "object"}]}),
    ]
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": shapes}},
            "text/csv": {"schema": {"type": "string", "description": "a CSV with a header row"}},
        },
    }


_INVOCATIONS_RESPONSES = {
    "200": {"description": '{"predictions": [...]}'},
    "400": {"description": "unparseable payload, or input that does not fit the signature"},
    "413": {"description": "body larger than the server's limit"},
    "415": {"description": "a Content-Type other than application/json or text/csv"},
}


#: bodies up to this size are scored on the event loop (batched with the requests that arrive
#: with them); larger ones in a worker thread, so that parsing them does not hold up the others
INLINE_BODY_SIZE = 64 * 1024


class _TooLarge(Exception):
    pass


async def _read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    """The request body; `_TooLarge` as soon as it is known to exceed `limit` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.strip().isdigit() and int(value) > limit:
                raise _TooLarge
            break
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        body += message.get("body", b"")
        if len(body) > limit:
            raise _TooLarge
        if not message.get("more_body", False):
            return body


def _header(scope: dict[str, Any], wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def _dumps(content: Any) -> bytes:
    # as starlette's JSONResponse renders
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def _error_body(code: str, message: str, column: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error_code": code, "message": message}
    if column is not None:
        body["column"] = column
    return body


def create_app(
    model: PackagedModel,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    capture: Any = None,
    batch: bool = True,
) -> Any:
    """Return a FastAPI application serving `model`; bodies over `max_body_size` get a 413.

    `capture`: a `stepline.monitor.capture.Capture` offered each scored request's rows and
    predictions (it samples and profiles them on its own thread). `batch`: score concurrent
    requests together (`stepline.models.batching`) when the model has a column signature.

    `POST /invocations` is answered by a plain ASGI handler in front of FastAPI (the rest of
    the endpoints, and the OpenAPI schema, are FastAPI's): a small JSON body is parsed on the
    event loop and its rows join those of the requests that arrived with it, in one predict
    call (`RowBatcher`); a large body is parsed and scored in a worker thread.
    """
    require("fastapi", "server")
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    from stepline.models.batching import Batcher, RowBatcher, batch_rows

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        yield
        if capture is not None:  # the last, partial window is stored on shutdown
            await run_in_threadpool(capture.close)

    schema = model.input_schema
    batched = batch and schema is not None and not schema.is_tensor and bool(schema.column_names())

    def offer(frame: Any, parts: list[Any]) -> None:
        capture.offer_batch(frame, parts)

    rows_batcher = (
        RowBatcher(model, on_batch=offer if capture is not None else None) if batched else None
    )
    thread_batcher = Batcher(model) if batched else None

    def predict(data: Any, params: dict[str, Any] | None, threaded: bool) -> Any:
        import pandas as pd

        if thread_batcher is None or params or not threaded:
            return model.predict(data, params=params)
        prepared = model.prepare(data)
        if not isinstance(prepared, pd.DataFrame):
            return model.predict(data, params=params)
        return thread_batcher.predict(prepared)

    def score(body: bytes, content_type: str | None, threaded: bool = True) -> Any:
        try:
            data, params = parse_request(body, content_type, schema)
        except SteplineError:
            raise
        except Exception as exc:  # pandas, numpy and csv fail in many ways on odd input
            raise PayloadError(
                f"cannot read the request body: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            predictions = predict(data, params, threaded)
            answer = predictions_body(predictions)
        except SteplineError:
            raise
        except Exception as exc:  # signature enforcement on values of unexpected kinds
            raise ModelError(f"cannot score the input: {type(exc).__name__}: {exc}") from exc
        if capture is not None:
            from stepline.monitor.capture import as_frame

            frame = as_frame(data)
            if frame is not None:
                capture.offer(frame, predictions)
        return answer

    def failure(exc: Exception) -> tuple[int, dict[str, Any]]:
        if isinstance(exc, UnsupportedContentType):
            return 415, _error_body("UNSUPPORTED_MEDIA_TYPE", str(exc))
        if isinstance(exc, SignatureError):
            return 400, _error_body("INVALID_PARAMETER_VALUE", str(exc), exc.column)
        if isinstance(exc, PayloadError):
            return 400, _error_body("BAD_REQUEST", str(exc))
        if isinstance(exc, ModelError):
            # As MLflow: a model that fails on the given rows is reported as a bad request.
            return 400, _error_body(
                "BAD_REQUEST",
                f"{exc}. Check that the input is compatible with the model (its signature: "
                f"{schema.column_names() if schema is not None else 'none recorded'})",
            )
        raise exc

    async def answer(body: bytes, content_type: str | None, client: Any) -> tuple[int, Any]:
        try:
            if len(body) > INLINE_BODY_SIZE:
                return 200, await run_in_threadpool(score, body, content_type)
            media = (content_type or "").split(";")[0].strip().lower()
            if rows_batcher is not None and media in ("application/json", ""):
                try:
                    doc = json.loads(body)
                except (ValueError, RecursionError):
                    doc = None  # score() says what is wrong with it
                joinable = batch_rows(doc)
                if joinable is not None:
                    result = await rows_batcher.submit(
                        *joinable, lambda: score(body, content_type, threaded=False), client
                    )
                    return 200, result if isinstance(result, dict) else predictions_body(result)
            return 200, score(body, content_type, threaded=False)
        except SteplineError as exc:
            return failure(exc)

    async def invocations(scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body = await _read_body(scope, receive, max_body_size)
            content_type = _header(scope, b"content-type")
            status, content = await answer(body, content_type, scope.get("client"))
        except _TooLarge:
            status, content = (
                413,
                _error_body(
                    "REQUEST_LIMIT_EXCEEDED",
                    f"the request body is larger than this server's limit of {max_body_size} "
                    "bytes; send fewer rows per request, or start the server with a larger "
                    "--max-body-size",
                ),
            )
        except ConnectionAbortedError:
            return
        data = _dumps(content)
        headers = [(b"content-length", str(len(data)).encode()), (b"content-type", _JSON)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    class ScoringApp(FastAPI):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if (
                scope["type"] == "http"
                and scope["path"] == "/invocations"
                and scope["method"] == "POST"
            ):
                await invocations(scope, receive, send)
                return
            await super().__call__(scope, receive, send)

    app = ScoringApp(
        title="stepline model server",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.model = model

    @app.get("/ping")
    def ping() -> PlainTextResponse:
        return PlainTextResponse("\n")

    @app.get("/health")
    def health() -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "model_uuid": model.model_uuid}
        if rows_batcher is not None:
            body["batching"] = {
                "requests": rows_batcher.requests,
                "batches": rows_batcher.batches,
                "batched_requests": rows_batcher.batched_requests,
            }
        return JSONResponse(body)

    @app.get("/version")
    def version() -> PlainTextResponse:
        return PlainTextResponse(_version())

    @app.post(
        "/invocations",
        openapi_extra={"requestBody": _request_body(schema), "responses": _INVOCATIONS_RESPONSES},
    )
    async def documented() -> None:  # pragma: no cover - here for the OpenAPI schema
        raise RuntimeError("POST /invocations is answered in front of FastAPI's routing")

    return app


_JSON = b"application/json"


#: `stepline serve --workers N` passes each worker its configuration in this variable
SERVE_CONFIG_ENV = "STEPLINE_SERVE_CONFIG"


@dataclass
class ServeConfig:
    """What a server process needs to build its app (JSON, for uvicorn's workers)."""

    package: str
    trust: bool | list[str] = False
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    capture: dict[str, Any] | None = None  # model, sample, window_rows, window_seconds, ...
    batch: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def make_capture(config: ServeConfig) -> Any:
    """The `Capture` that `config.capture` asks for (windows logged to the store), or None."""
    if not config.capture:
        return None
    from stepline.backends import get_backend
    from stepline.monitor.capture import ArtifactSink, Capture

    options = dict(config.capture)
    sink = ArtifactSink(get_backend(), str(options.pop("model")))
    return Capture(sink, **options)


def app_from_env() -> Any:
    """The app of one `stepline serve --workers N` worker, from `SERVE_CONFIG_ENV`."""
    from stepline.models.package import load_package

    config = ServeConfig(**json.loads(os.environ[SERVE_CONFIG_ENV]))
    model = load_package(config.package, trust=config.trust)
    return create_app(
        model,
        max_body_size=config.max_body_size,
        capture=make_capture(config),
        batch=config.batch,
    )


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

    # proto IPPROTO_TCP: asyncio then sets TCP_NODELAY on the connections (see models/_protocol.py)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
