"""A tiny in-process stand-in for the tracking core and the component runner.

Used only until `stepline.components` and the tracking core land; the integration tests in
test_integration.py run the same scenarios against the real ones. The runner runs real
processes (`bash -c` in the component dir); what a component writes to `$STEPLINE_OUT/` is
logged as artifacts of its run (one version per content change, as the core does).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import yaml

from stepline.pipeline.ports import RunFacts, Version
from stepline.pipeline.refs import parse_ref


@dataclass
class FakeRun:
    id: str
    project: str | None
    group: str | None
    job_type: str | None
    state: str = "running"
    info: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Version] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    seq: int = 0

    def facts(self) -> RunFacts:
        return RunFacts(
            id=self.id,
            state=self.state,
            project=self.project,
            group=self.group,
            job_type=self.job_type,
            info=dict(self.info),
            summary=dict(self.summary),
            config=dict(self.config),
        )


class StandinTracker:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.runs_by_id: dict[str, FakeRun] = {}
        self.versions: dict[str, list[Version]] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.counter = itertools.count()

    # helpers used by the stand-in runner and tests
    def new_run(self, project: str | None, group: str | None, job_type: str | None) -> FakeRun:
        with self.lock:
            n = next(self.counter)
            run = FakeRun(id=f"r{n:05d}", project=project, group=group, job_type=job_type, seq=n)
            self.runs_by_id[run.id] = run
            return run

    def log(self, run: FakeRun, name: str, digest: str) -> Version:
        with self.lock:
            versions = self.versions.setdefault(name, [])
            if versions and versions[-1].digest == digest:
                v = versions[-1]
            else:
                v = Version(
                    name=name, version=f"v{len(versions)}", digest=digest, project=run.project
                )
                versions.append(v)
            run.outputs[name] = v
            return v

    def delete_version(self, name: str, version: str) -> None:
        with self.lock:
            self.versions[name] = [v for v in self.versions[name] if v.version != version]

    # the Tracker port
    def resolve(self, ref: str) -> Version | None:
        r = parse_ref(ref)
        with self.lock:
            versions = self.versions.get(r.name) or []
            if not versions:
                return None
            if r.alias == "latest":
                found: Version | None = versions[-1]
            else:
                wanted = self.aliases.get((r.name, r.alias), r.alias)
                found = next((v for v in versions if v.version == wanted), None)
            if found is None:
                return None
            producer = next(
                (x for x in self.runs_by_id.values() if x.outputs.get(r.name) == found), None
            )
            execution = producer.info.get("execution") if producer else None
            return dataclasses.replace(found, execution=execution)

    def outputs_of(self, run: RunFacts, names: Sequence[str]) -> dict[str, Version]:
        with self.lock:
            fake = self.runs_by_id[run.id]
            return {
                n: v
                for n, v in fake.outputs.items()
                if n in names and v in self.versions.get(n, [])
            }

    def run(self, run_id: str) -> RunFacts:
        return self.runs_by_id[run_id].facts()

    def runs(self, project: str | None, filters: Mapping[str, Any]) -> list[RunFacts]:
        def ok(r: FakeRun) -> bool:
            for k, want in filters.items():
                have = r.info.get(k[5:]) if k.startswith("info.") else getattr(r, k)
                if have != want:
                    return False
            return project is None or r.project == project

        with self.lock:
            found = [r for r in self.runs_by_id.values() if ok(r)]
        return [r.facts() for r in sorted(found, key=lambda r: -r.seq)]

    def record_cached(self, *, project, group, step, name, info) -> str:  # type: ignore[no-untyped-def]
        run = self.new_run(project, group, step)
        run.info.update(info)
        run.state = "cached"
        return run.id

    def start_execution(self, *, project, group, name, config, info) -> str:  # type: ignore[no-untyped-def]
        run = self.new_run(project, group, "pipeline")
        run.config.update(config)
        run.info.update(info)
        return run.id

    def finish_execution(self, run_id, *, status, info, summary=None) -> None:  # type: ignore[no-untyped-def]
        run = self.runs_by_id[run_id]
        run.info.update(info)
        run.summary.update(summary or {})
        run.state = status

    def alias(self, ref: str, alias: str) -> None:
        r = parse_ref(ref)
        self.aliases[(r.name, alias)] = r.alias


@dataclass
class Prepared:
    source_dir: Path
    source_digest: str
    name: str
    entry_point: str
    parameters: dict[str, str]
    command: str
    env_manager: str = "local"
    env_digest: str = "local"


@dataclass
class Result:
    run_id: str
    status: str
    exit_code: int | None
    stderr_tail: list[str]
    duration: float


class StandinRunner:
    def __init__(self, tracker: StandinTracker, out_root: Path) -> None:
        self.tracker = tracker
        self.out_root = out_root

    def prepare(self, uri, entry_point="main", parameters=None, env_manager=None, version=None):  # type: ignore[no-untyped-def]
        src = Path(uri)
        doc = yaml.safe_load((src / "MLproject").read_text())
        ep = doc["entry_points"][entry_point]
        params = {
            k: str(v["default"])
            for k, v in (ep.get("parameters") or {}).items()
            if isinstance(v, dict) and v.get("default") is not None
        }
        params.update(parameters or {})
        h = blake3.blake3()
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(src)).encode())
            h.update(f.read_bytes())
        command = ep["command"].format(**{k: shlex.quote(v) for k, v in params.items()})
        return Prepared(src, h.hexdigest(), doc.get("name", src.name), entry_point, params, command)

    def execute(
        self,
        step,
        *,
        project=None,
        group=None,
        job_type=None,
        run_name=None,  # type: ignore[no-untyped-def]
        extra_env=None,
        info=None,
        on_output=None,
    ):
        run = self.tracker.new_run(project, group, job_type)
        run.info.update(info or {})
        run.env = dict(extra_env or {})
        out = self.out_root / run.id
        out.mkdir(parents=True)
        env = {
            **os.environ,
            **(extra_env or {}),
            "STEPLINE_RUN_ID": run.id,
            "STEPLINE_OUT": str(out),
            "STEPLINE_SUMMARY": str(self.out_root / f"{run.id}.summary.json"),
        }
        t0 = time.monotonic()
        proc = subprocess.Popen(
            ["bash", "-c", step.command],
            cwd=step.source_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # as the real runner does
        )
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_output:
                on_output("stdout", line)
        rc = proc.wait()
        summary = self.out_root / f"{run.id}.summary.json"
        if summary.exists():
            run.summary.update(json.loads(summary.read_text()))
        for f in sorted(out.iterdir()):
            self.tracker.log(run, f.name, blake3.blake3(f.read_bytes()).hexdigest())
        run.state = "finished" if rc == 0 else "failed"
        return Result(run.id, run.state, rc, lines[-5:], time.monotonic() - t0)
