"""Every error stepline raises on purpose derives from one root, `SteplineError`.

    SteplineError                     code            HTTP  exit
    ├── UsageError                    usage            400     2   bad arguments to the API or CLI
    │   ├── InvalidName               invalid_name     400     2   a name, alias or config key with forbidden characters
    │   ├── InvalidValue              invalid_value    400     2   a metric or parameter value that cannot be stored
    │   ├── InvalidReference          invalid_reference 400    2   a malformed `[project/]name[:alias|vN]` or registry reference
    │   ├── InvalidParameter          invalid_parameter 400    2   a component parameter missing or of the wrong type
    │   ├── UnknownEntryPoint         unknown_entry_point 400  2   an entry point the component does not declare
    │   └── PathEscape                path_escape      400     2   an artifact path outside its root (`..`, absolute, symlink out)
    ├── NotFound                      not_found        404     3   something named does not exist
    │   ├── ProjectNotFound
    │   ├── RunNotFound
    │   ├── ArtifactNotFound
    │   ├── VersionNotFound                                        an alias or vN the artifact does not have
    │   └── SourceNotFound                                         a component directory, repository or commit
    ├── Conflict                      conflict         409     4   a name used with another type, a draft logged twice, ...
    ├── StoreError                    store            500     1   the object store
    │   ├── CorruptObject             corrupt_object   500     1   an object whose bytes no longer match its digest
    │   └── MetricsLost               metrics_lost     500     1   logged metric points that could not be written (disk full, ...)
    ├── MetadataError                 metadata         503     1   the metadata database (schema too new, unreachable, ...)
    ├── AuthError                     auth             401     5   a team server refused the request
    │   ├── Unauthorized              unauthorized     401     5   no token, or a bad, expired or revoked one
    │   └── Forbidden                 forbidden        403     5   a valid token whose role does not allow this
    ├── ServerUnavailable             server_unavailable 503   6   a team server could not be reached
    ├── SpecError                     spec             422     2   a malformed MLproject, env spec or pipeline.yaml (file:line:column)
    ├── EnvError                      env              500     1   an environment could not be built or activated
    │   ├── MissingTool               missing_tool     500     1   a program stepline runs (uv) is not installed
    │   └── NoWheel                   no_wheel         500     1   a pinned package has no wheel for the interpreter
    ├── StepFailed                    step_failed      500     1   a component exited non-zero (the original is kept as __cause__)
    ├── ModelError                    model            500     1   a model package could not be saved, loaded or trusted
    │   ├── SignatureError            model_signature  400     1   input that does not fit the model's signature
    │   ├── UntrustedModel            model_untrusted  403     1   a model file needing types the caller has not trusted
    │   ├── PayloadError              bad_payload      400     1   an `/invocations` body that cannot be parsed
    │   └── UnsupportedContentType    unsupported_content_type 415 1  a Content-Type `/invocations` does not take
    └── MissingExtra                  missing_extra    500     1   an optional dependency is not installed (message has the pip command)

Each class has a stable `code` (used by the CLI's `--json` output and a server's error body), an
`http_status` (what a server answers with) and an `exit_code` (what the `stepline` command exits
with; docs/cli.md lists them). A subclass without its own inherits its parent's.
`tests/test_errors.py` pins this tree, so a change to it is deliberate.

Warnings stepline gives through `warnings` are `SteplineWarning`s (the CLI prints them as one
`warning:` line): a damaged stat cache that was rebuilt, for example.
"""

from __future__ import annotations

from collections.abc import Sequence


class SteplineError(Exception):
    """Root of every error stepline raises on purpose."""

    code = "stepline_error"
    http_status = 500
    exit_code = 1


class UsageError(SteplineError):
    """Arguments that cannot work, whatever the state of the store."""

    code = "usage"
    http_status = 400
    exit_code = 2


class InvalidName(UsageError):
    """A name, alias or key with characters stepline does not allow."""

    code = "invalid_name"


class InvalidValue(UsageError):
    """A value that cannot be stored (a non-finite metric, an unserialisable config value)."""

    code = "invalid_value"


class InvalidReference(UsageError):
    """A reference string that does not parse."""

    code = "invalid_reference"


class InvalidParameter(UsageError):
    """A parameter value that is missing or does not fit its declared type."""

    code = "invalid_parameter"


class UnknownEntryPoint(UsageError):
    """An entry point the component does not declare and that is no .py/.sh file in it."""

    code = "unknown_entry_point"


class NotFound(SteplineError):
    """Something named does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 3


class ProjectNotFound(NotFound):
    """No project of that name."""

    code = "project_not_found"


class RunNotFound(NotFound):
    """No run with that id or name."""

    code = "run_not_found"


class ArtifactNotFound(NotFound):
    """No artifact of that name in the project."""

    code = "artifact_not_found"


class VersionNotFound(NotFound):
    """The artifact exists but has no such version or alias."""

    code = "version_not_found"


class SourceNotFound(NotFound):
    """A component directory, git repository, version or subdirectory that does not exist."""

    code = "source_not_found"


class Conflict(SteplineError):
    """The request contradicts what is stored (a name used with another type, ...)."""

    code = "conflict"
    http_status = 409
    exit_code = 4


class PathEscape(UsageError):
    """A path that would leave the artifact's root."""

    code = "path_escape"


class StoreError(SteplineError):
    """The object store failed."""

    code = "store"


class CorruptObject(StoreError):
    """An object's bytes no longer match its digest."""

    code = "corrupt_object"


class MetricsLost(StoreError):
    """Logged metric points could not be written; the run was marked `failed` with the count."""

    code = "metrics_lost"


class MetadataError(SteplineError):
    """The metadata database cannot be used."""

    code = "metadata"
    http_status = 503


class AuthError(SteplineError):
    """A team server refused the request."""

    code = "auth"
    http_status = 401
    exit_code = 5


class Unauthorized(AuthError):
    """No token, or one that is wrong, expired or revoked; `stepline login` gets a new one."""

    code = "unauthorized"


class Forbidden(AuthError):
    """The token is valid but its role on the project does not allow this."""

    code = "forbidden"
    http_status = 403


class ServerUnavailable(SteplineError):
    """A team server (STEPLINE_TRACKING_URI) could not be reached or answered garbage."""

    code = "server_unavailable"
    http_status = 503
    exit_code = 6


class SpecError(SteplineError):
    """A malformed spec file: MLproject, env spec or pipeline.yaml."""

    code = "spec"
    http_status = 422
    exit_code = 2


class EnvError(SteplineError):
    """An environment could not be built or activated."""

    code = "env"


class MissingTool(EnvError):
    """A program stepline needs (uv) is not installed; the message says how to install it."""

    code = "missing_tool"


class NoWheel(EnvError):
    """A pinned package has no wheel for the interpreter, and is not built from source."""

    code = "no_wheel"

    def __init__(self, message: str, package: str, python: str) -> None:
        super().__init__(message)
        self.package = package
        self.python = python


class StepFailed(SteplineError):
    """A component or pipeline step exited non-zero."""

    code = "step_failed"

    def __init__(self, message: str, *, step: str = "", run_id: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.run_id = run_id


class ModelError(SteplineError):
    """A model package could not be saved, loaded or trusted."""

    code = "model"


class SignatureError(ModelError):
    """Input data that does not match a model's signature; `column` names the culprit."""

    code = "model_signature"
    http_status = 400

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class UntrustedModel(ModelError):
    """A model file needs types (or unpickling) the caller has not trusted."""

    code = "model_untrusted"
    http_status = 403

    def __init__(self, message: str, *, types: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.types = list(types)


class PayloadError(ModelError):
    """A request body that is not a valid `/invocations` payload (an HTTP 400)."""

    code = "bad_payload"
    http_status = 400


class UnsupportedContentType(ModelError):
    """A request whose Content-Type `/invocations` does not accept (an HTTP 415)."""

    code = "unsupported_content_type"
    http_status = 415


class MissingExtra(SteplineError):
    """An optional dependency is missing; the message names the extra to install."""

    code = "missing_extra"


class SteplineWarning(UserWarning):
    """Something stepline repaired or worked around, and the user should know about."""


def require(module: str, extra: str) -> None:
    """Raise `MissingExtra` unless `module` can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"this needs the '{module}' package: pip install 'stepline[{extra}]'")
