"""`stepline diff RUN_A RUN_B`: config, code, environment, inputs, outputs and metrics side by side."""

from __future__ import annotations

from typing import Any

from stepline.backends.base import Backend, RunRecord


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not v.get("_type"):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _side(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(a.keys() | b.keys()):
        va, vb = a.get(key), b.get(key)
        rows.append({"key": key, "a": va, "b": vb, "same": va == vb})
    return rows


def _artifacts(versions: list[Any]) -> dict[str, Any]:
    return {f"{v.project}/{v.name}": f"v{v.version} {v.digest[:12]}" for v in versions}


def diff_runs(backend: Backend, a: RunRecord, b: RunRecord) -> dict[str, list[dict[str, Any]]]:
    """Each section lists every key with both values and whether they agree."""

    def code(r: RunRecord) -> dict[str, Any]:
        keys = ("source_digest", "entry_point", "command", "cache_key")
        return {
            "git_commit": r.git_commit,
            "git_dirty": r.git_dirty,
            "command": r.command,
            **{f"info.{k}": r.info.get(k) for k in keys if k in r.info},
        }

    def env(r: RunRecord) -> dict[str, Any]:
        keys = ("env_digest", "env_manager")
        return {
            "python": r.python_version,
            "host": r.host,
            **{f"info.{k}": r.info.get(k) for k in keys if k in r.info},
        }

    def metrics(r: RunRecord) -> dict[str, Any]:
        return {k: v for k, v in _flatten(r.summary).items() if not k.startswith("_")}

    return {
        "run": _side(
            {"id": a.id, "name": a.name, "state": a.state, "job_type": a.job_type},
            {"id": b.id, "name": b.name, "state": b.state, "job_type": b.job_type},
        ),
        "config": _side(_flatten(a.config), _flatten(b.config)),
        "code": _side(code(a), code(b)),
        "environment": _side(env(a), env(b)),
        "inputs": _side(_artifacts(backend.inputs(a.id)), _artifacts(backend.inputs(b.id))),
        "outputs": _side(_artifacts(backend.outputs(a.id)), _artifacts(backend.outputs(b.id))),
        "metrics": _side(metrics(a), metrics(b)),
    }
