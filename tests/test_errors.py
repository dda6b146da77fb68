"""The exception tree is part of the interface: each class's parent, code, HTTP status and exit
code are pinned here, so that changing one (or adding a class) is a deliberate edit.

The same table is drawn in `stepline.errors`' docstring and docs/cli.md lists the exit codes.
"""

from __future__ import annotations

import stepline.errors as errors
from stepline.errors import SteplineError

# class: (parent, code, http_status, exit_code)
TREE: dict[str, tuple[str, str, int, int]] = {
    "SteplineError": ("Exception", "stepline_error", 500, 1),
    "UsageError": ("SteplineError", "usage", 400, 2),
    "InvalidName": ("UsageError", "invalid_name", 400, 2),
    "InvalidValue": ("UsageError", "invalid_value", 400, 2),
    "InvalidReference": ("UsageError", "invalid_reference", 400, 2),
    "InvalidParameter": ("UsageError", "invalid_parameter", 400, 2),
    "UnknownEntryPoint": ("UsageError", "unknown_entry_point", 400, 2),
    "PathEscape": ("UsageError", "path_escape", 400, 2),
    "NotFound": ("SteplineError", "not_found", 404, 3),
    "ProjectNotFound": ("NotFound", "project_not_found", 404, 3),
    "RunNotFound": ("NotFound", "run_not_found", 404, 3),
    "ArtifactNotFound": ("NotFound", "artifact_not_found", 404, 3),
    "VersionNotFound": ("NotFound", "version_not_found", 404, 3),
    "SourceNotFound": ("NotFound", "source_not_found", 404, 3),
    "Conflict": ("SteplineError", "conflict", 409, 4),
    "StoreError": ("SteplineError", "store", 500, 1),
    "CorruptObject": ("StoreError", "corrupt_object", 500, 1),
    "MetricsLost": ("StoreError", "metrics_lost", 500, 1),
    "MetadataError": ("SteplineError", "metadata", 503, 1),
    "AuthError": ("SteplineError", "auth", 401, 5),
    "Unauthorized": ("AuthError", "unauthorized", 401, 5),
    "Forbidden": ("AuthError", "forbidden", 403, 5),
    "ServerUnavailable": ("SteplineError", "server_unavailable", 503, 6),
    "SpecError": ("SteplineError", "spec", 422, 2),
    "EnvError": ("SteplineError", "env", 500, 1),
    "MissingTool": ("EnvError", "missing_tool", 500, 1),
    "NoWheel": ("EnvError", "no_wheel", 500, 1),
    "StepFailed": ("SteplineError", "step_failed", 500, 1),
    "ModelError": ("SteplineError", "model", 500, 1),
    "SignatureError": ("ModelError", "model_signature", 400, 1),
    "UntrustedModel": ("ModelError", "model_untrusted", 403, 1),
    "PayloadError": ("ModelError", "bad_payload", 400, 1),
    "UnsupportedContentType": ("ModelError", "unsupported_content_type", 415, 1),
    "MissingExtra": ("SteplineError", "missing_extra", 500, 1),
}


def _all_subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


def test_the_exception_tree_is_pinned() -> None:
    # load the modules that used to define error classes of their own

    found = {
        cls.__name__: (cls.__bases__[0].__name__, cls.code, cls.http_status, cls.exit_code)
        for cls in _all_subclasses(SteplineError)
        if cls.__module__.startswith("stepline")
    }
    assert found == TREE


def test_every_error_class_lives_in_stepline_errors() -> None:
    for name in TREE:
        assert getattr(errors, name).__module__ == "stepline.errors", name


def test_codes_are_unique_and_drawn_in_the_docstring() -> None:
    codes = [code for _, code, _, _ in TREE.values()]
    assert len(codes) == len(set(codes))
    doc = errors.__doc__ or ""
    for name in TREE:
        assert f" {name}" in doc, name
