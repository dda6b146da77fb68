"""Every error stepline raises on purpose derives from one root, `SteplineError`.

    SteplineError
    ├── UsageError                 bad arguments to the API or CLI
    │   ├── InvalidName            a name, alias or config key with forbidden characters
    │   ├── InvalidValue           a metric or parameter value that cannot be stored
    │   └── InvalidReference       a malformed `[project/]name[:alias|vN]` or run reference
    ├── NotFound                   something named does not exist
    │   ├── ProjectNotFound
    │   ├── RunNotFound
    │   ├── ArtifactNotFound
    │   └── VersionNotFound        an alias or vN the artifact does not have
    ├── Conflict                   a name used with another type, a draft logged twice, ...
    ├── PathEscape                 an artifact path outside its root (`..`, absolute, symlink out)
    ├── StoreError                 the object store
    │   └── CorruptObject          an object whose bytes no longer match its digest
    ├── MetadataError              the metadata database (schema too new, unreachable, ...)
    ├── SpecError                  a malformed MLproject, env spec or pipeline.yaml (file, key, line)
    ├── EnvError                   an environment could not be built or activated
    ├── StepFailed                 a component exited non-zero (the original is kept as __cause__)
    ├── ModelError                 a model package could not be saved, loaded or trusted
    └── MissingExtra               an optional dependency is not installed (message has the pip command)

Each class has a stable `code`, used by the CLI's `--json` output and the server's error body.
"""

from __future__ import annotations


class SteplineError(Exception):
    """Root of every error stepline raises on purpose."""

    code = "stepline_error"


class UsageError(SteplineError):
    """Arguments that cannot work, whatever the state of the store."""

    code = "usage"


class InvalidName(UsageError):
    """A name, alias or key with characters stepline does not allow."""

    code = "invalid_name"


class InvalidValue(UsageError):
    """A value that cannot be stored (a non-finite metric, an unserialisable config value)."""

    code = "invalid_value"


class InvalidReference(UsageError):
    """A reference string that does not parse."""

    code = "invalid_reference"


class NotFound(SteplineError):
    """Something named does not exist."""

    code = "not_found"


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


class Conflict(SteplineError):
    """The request contradicts what is stored (a name used with another type, ...)."""

    code = "conflict"


class PathEscape(UsageError):
    """A path that would leave the artifact's root."""

    code = "path_escape"


class StoreError(SteplineError):
    """The object store failed."""

    code = "store"


class CorruptObject(StoreError):
    """An object's bytes no longer match its digest."""

    code = "corrupt_object"


class MetadataError(SteplineError):
    """The metadata database cannot be used."""

    code = "metadata"


class SpecError(SteplineError):
    """A malformed spec file: MLproject, env spec or pipeline.yaml."""

    code = "spec"


class EnvError(SteplineError):
    """An environment could not be built or activated."""

    code = "env"


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


class MissingExtra(SteplineError):
    """An optional dependency is missing; the message names the extra to install."""

    code = "missing_extra"


def require(module: str, extra: str) -> None:
    """Raise `MissingExtra` unless `module` can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"this needs the '{module}' package: pip install 'stepline[{extra}]'")
