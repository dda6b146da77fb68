"""The errors every adapter raises carry the same stable codes (the server's error body uses them)."""

from __future__ import annotations

import pytest
from test_backend import manifest, rec

from stepline.backends.base import Backend, RunQuery
from stepline.errors import SteplineError


def _code(call: object) -> str:
    assert callable(call)
    with pytest.raises(SteplineError) as info:
        call()
    return info.value.code


def test_codes(backend: Backend) -> None:
    backend.create_run(rec("r1", config={"lr": 0.1}))
    backend.commit_version("p", "a", "t", manifest("x"), None, {}, [], None)
    assert _code(lambda: backend.get_run("nope")) == "run_not_found"
    assert _code(lambda: backend.resolve("nope", "a", "latest")) == "project_not_found"
    assert _code(lambda: backend.resolve("p", "nope", "latest")) == "artifact_not_found"
    assert _code(lambda: backend.resolve("p", "a", "prod")) == "version_not_found"
    assert _code(lambda: backend.resolve("p", "a", "v3")) == "version_not_found"
    assert _code(lambda: backend.remove_alias("p", "a", "prod")) == "version_not_found"
    conflict = backend.commit_version
    assert _code(lambda: conflict("p", "a", "u", manifest("y"), None, {}, [], None)) == "conflict"
    assert _code(lambda: backend.get_model("nope")) == "not_found"
    assert _code(lambda: backend.find_runs(RunQuery(filters={"config.lrr": 1}))) == "usage"
    assert _code(lambda: backend.find_runs(RunQuery(filters={"state": "done"}))) == "usage"
    assert _code(lambda: backend.objects.get_bytes("ab" * 32)) == "store"
