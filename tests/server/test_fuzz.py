"""Schemathesis over the team server's published OpenAPI schema, against a real server with auth.

Every operation gets positive and negative (schema-violating) cases, sent with no token and with a
write token scoped to project A. No answer may be a 5xx, no answer may name project B or its run,
and after fuzzing project B's runs, history, artifacts, versions and aliases are unchanged. Each
case with a project, run or version in it is also sent at B and at names that do not exist: A's
writer must get the same answer from both (B is indistinguishable from nothing).
Bounded: a few examples per operation and mode, so the whole test runs well under two minutes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from tests.server.conftest import Server
from tests.server.test_auth import _token, team  # noqa: F401  (the fixture)

from stepline.backends.base import RunQuery
from stepline.backends.http import HttpBackend

#: examples per operation, per generation mode, per token
EXAMPLES = 10
#: stop generating new operations after this many seconds (the test still checks what it sent)
BUDGET = 80.0


def _snapshot(srv: Server, admin: str, project: str, cache: Path) -> dict[str, Any]:
    """Everything of `project` as an admin sees it (what fuzzing with another token must not move)."""
    client = HttpBackend(srv.url, token=admin, cache=cache)
    try:
        runs = client.find_runs(RunQuery(project=project))
        out: dict[str, Any] = {"runs": sorted(repr(r) for r in runs)}
        out["history"] = {r.id: client.history(r.id) for r in runs}
        out["artifacts"] = sorted(repr(a) for a in client.list_artifacts(project))
        out["versions"] = {
            a.name: [repr(v) for v in client.list_versions(project, a.name)]
            for a in client.list_artifacts(project)
        }
        out["outputs"] = {r.id: [repr(v) for v in client.outputs(r.id)] for r in runs}
        return out
    finally:
        client.close()


def test_fuzzing_finds_no_server_error_and_no_other_project(
    team: dict[str, Any],  # noqa: F811
) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.generation import GenerationMode

    srv: Server = team["srv"]
    a, b = team["a"], team["b"]
    b_run, b_version = team["ids"][b]
    #: what B's names become in the twin request, and what both answers are normalized to
    absent = {b: "nosuchproject", b_run: "nosuchrun", b_version: 987654321}
    tmp = Path(team["tmp"])
    _, writer = _token(srv.cli("tokens", "create", "--project", a, "--role", "write"))
    before = _snapshot(srv, team["admin"], b, tmp / "snap-before")

    def retarget(case: Any, names: dict[Any, Any]) -> bool:
        """Point `case` at B (or at what does not exist): its project, run and version."""
        project, run, version = (names[k] for k in (b, b_run, b_version))
        hit = False
        for params in (case.path_parameters, case.query):
            for key in list(params or {}):
                new = {"project": project, "run_id": run, "ref": run, "version_id": version}
                if key in new:
                    params[key], hit = new[key], True
        if isinstance(case.body, dict):
            new = {"project": project, "run_id": run, "version_id": version, "projects": [project]}
            for key in list(case.body):
                if key in new:
                    case.body[key], hit = new[key], True
        return hit

    def normal(text: str) -> str:
        for name in sorted({str(n) for pair in absent.items() for n in pair}, key=len)[::-1]:
            text = text.replace(name, "<P>")  # longest first: B's run id holds B's name
        return text

    def aimed(case: Any, headers: dict[str, str]) -> None:
        """The case sent at B and at nothing: A's writer must get the same answer from both."""
        nonlocal sent
        if not retarget(case, {k: k for k in absent}):
            return
        at_b = case.call(base_url=srv.url, headers=headers, timeout=30)
        retarget(case, absent)  # the same keys, now naming nothing
        at_none = case.call(base_url=srv.url, headers=headers, timeout=30)
        sent += 2
        same = (at_b.status_code, normal(at_b.text)) == (at_none.status_code, normal(at_none.text))
        if not same or at_b.status_code >= 500:
            failures.append(
                (case.method, case.path, case.path_parameters, case.query, case.body,
                 at_b.status_code, f"{at_b.text[:140]} | absent: {at_none.text[:140]}")
            )  # fmt: skip

    schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) > 30, [op.path for op in operations]
    failures: list[Any] = []
    sent = 0
    start = time.monotonic()
    for token in (None, writer):
        current = {"authorization": f"Bearer {token}"} if token else {}
        for op in operations:
            if time.monotonic() - start > BUDGET:
                break
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                )
                @given(case=op.as_strategy(generation_mode=mode))
                def check(case: Any) -> None:
                    nonlocal sent
                    response = case.call(base_url=srv.url, headers=current, timeout=30)  # noqa: B023 (run at once)
                    sent += 1
                    text = response.text
                    if response.status_code >= 500 or b in text or b_run in text:
                        failures.append(
                            (case.method, case.path, case.path_parameters, case.query,
                             case.body, response.status_code, text[:300])
                        )  # fmt: skip
                    if current:  # noqa: B023
                        aimed(case, current)  # noqa: B023

                try:
                    check()
                except Exception as exc:  # a case hypothesis could not build, not a server answer
                    if "Unsatisfiable" not in type(exc).__name__ and "Unsatisfi" not in str(exc):
                        raise
    print(f"\nfuzz: {sent} requests over {len(operations)} operations in"
          f" {time.monotonic() - start:.1f} s")  # fmt: skip
    assert sent > 200
    kinds = sorted({(f[0], f[1], f[5], f[6][:160]) for f in failures})
    assert not failures, "\n".join(map(str, kinds))
    assert _snapshot(srv, team["admin"], b, tmp / "snap-after") == before
