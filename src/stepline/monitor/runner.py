"""`stepline monitor`: drift of current data against a model's reference profile, as a run.

`run_monitor` resolves the model (a package path or an artifact reference such as
`random_forest_export:prod`), reads its reference profile, profiles the current data (a
profile or table artifact, the newest capture window of `stepline serve --capture`, or a CSV
file scored with the model), compares them (`stepline.monitor.drift.compare`) and records a
run of job_type `monitor`: inputs the model, its profile artifact and the current artifact;
a `drift` table and a score chart; summary `drift_share`, `dataset_drift`, `drifted_columns`;
and output a `drift_report` artifact holding `report.html` (self-contained) and
`report.json`.

Example:
    >>> result = run_monitor(backend, "random_forest_export:prod", window="last")
    >>> result.report.drifted, result.run_id, result.report_ref
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline.errors import InvalidValue, NotFound, UsageError

#: `stepline monitor` exits with this when the dataset drifted (1 is an error, 2 a usage error)
DRIFT_EXIT_CODE = 7  # apart from every error's exit code (docs/cli.md)
CAPTURE_SUFFIX = ".capture"
REPORT_TYPE = "drift_report"


@dataclass
class MonitorResult:
    report: Any  # DriftReport
    run_id: str
    project: str
    report_ref: str
    html: Path  # a local copy of the report
    current: str  # what was compared: an artifact reference or a file

    @property
    def exit_code(self) -> int:
        return DRIFT_EXIT_CODE if self.report.drifted else 0


def resolve_model(backend: Any, ref: str) -> tuple[Path, Any]:
    """The package directory of `ref` and its artifact version (None for a plain path)."""
    from stepline.models.resolve import find_package, parse_registry_reference
    from stepline.tracking.artifact import Artifact, resolve

    path = Path(ref)
    if path.exists():
        return (path.parent if path.is_file() else find_package(path)), None
    registry = parse_registry_reference(ref)
    if registry is not None:
        from stepline import registry as reg

        selector = registry[1]
        ref = str(reg.resolve(f"{registry[0]}:v{selector}" if selector.isdigit() else ref).ref)
    art = Artifact._from_record(backend, resolve(backend, ref, None))
    return find_package(Path(art.download())), art


def capture_name(model_name: str) -> str:
    return f"{model_name}{CAPTURE_SUFFIX}"


def last_window(backend: Any, model: Any) -> Any:
    """The newest capture window of `model` (an artifact version), or NotFound."""
    from stepline.tracking.artifact import Artifact

    if model is None:
        raise UsageError("--window needs the model as an artifact reference, not a path")
    try:
        versions = backend.list_versions(model.project, capture_name(model.name))
    except NotFound:
        versions = []
    versions = [v for v in versions if (v.metadata or {}).get("model") == model.qualified_name]
    if not versions:
        raise NotFound(
            f"no capture window of {model.qualified_name} yet: serve it with "
            f"`stepline serve {model.name}:{model.version} --capture` and send requests"
        )
    return Artifact._from_record(backend, versions[-1])


def _read_table(path: Path) -> Any:
    import pandas as pd

    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _score(package: Path, frame: Any, reference: Any) -> Any:
    """Profile `frame`'s reference columns and the model's predictions on them."""
    from stepline.errors import SteplineError
    from stepline.models.package import load_package
    from stepline.monitor.profile import PREDICTION, profile_frame

    present = [c for c in reference.features if c in frame.columns]
    if not present:
        raise InvalidValue(
            f"the current data has none of the reference's columns {reference.features}"
        )
    predictions = None
    if PREDICTION in frame.columns:
        predictions = frame[PREDICTION].to_numpy()
    elif PREDICTION in reference.columns:
        try:
            predictions = load_package(package).predict(frame)
        except SteplineError:
            predictions = None  # the model cannot score here: feature drift only
    return profile_frame(frame[present], predictions=predictions)


def _artifact_profile(art: Any, package: Path, reference: Any) -> Any:
    from stepline.monitor.profile import Profile

    root = Path(art.download())
    files = sorted(art.files())
    if art.type == "profile" or files == ["profile.json"]:
        return Profile.from_dict(json.loads((root / files[0]).read_text()))
    tables = [f for f in files if f.endswith((".csv", ".parquet", ".pq"))]
    if len(tables) != 1:
        raise InvalidValue(
            f"artifact {art.qualified_name} is neither a profile nor a single table "
            f"(files: {', '.join(files[:5])})"
        )
    return _score(package, _read_table(root / tables[0]), reference)


def _new_run(backend: Any, project: str, config: dict[str, Any], job_type: str = "monitor") -> Any:
    from stepline.backends.base import RunRecord
    from stepline.tracking import naming
    from stepline.tracking.run import Run

    record = RunRecord(
        id=naming.new_run_id(),
        project=project,
        name="",
        group=None,
        job_type=job_type,
        state="running",
        config=config,
        host=socket.gethostname(),
        pid=os.getpid(),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        python_version=sys.version.split()[0],
        created_at=time.time(),
    )
    backend.create_run(record)
    return Run(backend, record, owner=True)


def _chart(report: Any) -> Any:
    """A bar chart of the features' scores against their thresholds (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [*report.features, *([report.prediction] if report.prediction else [])]
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.3 * len(rows) + 1)))
    colours = ["#c0392b" if f.drifted else "#2e86c1" for f in rows]
    ax.barh([f"{f.column} ({f.method})" for f in rows], [f.score for f in rows], color=colours)
    ax.invert_yaxis()
    ax.set_xlabel("score (p-value for ks/chisquare/z, else distance); red = drifted")
    ax.set_title(
        f"Drift: {report.share:.0%} of features (dataset drift at {report.drift_share:.0%})"
    )
    fig.tight_layout()
    return fig


def run_monitor(
    backend: Any,
    model_ref: str,
    current: Any = None,
    *,
    window: str | None = None,
    file: str | os.PathLike[str] | None = None,
    drift_share: float = 0.5,
    threshold: float | None = None,
    method: str | dict[str, str] | None = None,
    project: str | None = None,
) -> MonitorResult:
    """Compare current data with `model_ref`'s reference profile and log a `monitor` run.

    The current data is one of: `current` (an artifact reference, a Profile or a DataFrame),
    `window="last"` (the newest capture window), `file` (a CSV or Parquet file of rows, scored
    with the model for prediction drift). `drift_share`: the dataset drifts when at least this
    share of features drift (then `result.exit_code` is `DRIFT_EXIT_CODE`); `threshold` and
    `method` are passed to `compare`.
    """
    import pandas as pd

    from stepline.monitor.drift import compare
    from stepline.monitor.profile import Profile
    from stepline.monitor.reference import reference_for
    from stepline.tracking.artifact import Artifact, resolve

    given = [x is not None for x in (current, window, file)]
    if sum(given) != 1:
        raise UsageError("give exactly one of current, window='last' or file")
    if window is not None and window != "last":
        raise UsageError(f"window must be 'last', not {window!r}")
    package, model = resolve_model(backend, model_ref)
    reference, profile_art = reference_for(backend, model, package)
    used: list[Any] = [a for a in (model, profile_art) if a is not None]
    if window is not None:
        art = last_window(backend, model)
        used.append(art)
        cur_profile, described = _artifact_profile(art, package, reference), art.qualified_name
    elif file is not None:
        source = Path(file)
        if not source.is_file():
            raise NotFound(f"no file {source}")
        cur_profile, described = _score(package, _read_table(source), reference), str(source)
    elif isinstance(current, Profile):
        cur_profile, described = current, "a profile"
    elif isinstance(current, pd.DataFrame):
        cur_profile, described = _score(package, current, reference), "a DataFrame"
    else:
        art = Artifact._from_record(backend, resolve(backend, str(current), None))
        used.append(art)
        cur_profile, described = _artifact_profile(art, package, reference), art.qualified_name
    report = compare(
        reference, cur_profile, method=method, threshold=threshold, drift_share=drift_share
    )
    target = project or (model.project if model is not None else "uncategorized")
    run = _new_run(
        backend,
        target,
        {
            "model": model.qualified_name if model is not None else str(package),
            "current": described,
            "drift_share": drift_share,
            "threshold": threshold,
            "method": method,
        },
    )
    try:
        result = _record(backend, run, report, used, model_ref, described)
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish(exit_code=0)
    return result


def _record(
    backend: Any, run: Any, report: Any, used: list[Any], model_ref: str, described: str
) -> MonitorResult:
    from stepline.monitor.report import render_html
    from stepline.tracking.artifact import Artifact, use_artifact
    from stepline.tracking.media import Image, Table

    for art in used:
        use_artifact(backend, art, run.project, run.id, None)
    rows = [*report.features, *([report.prediction] if report.prediction else [])]
    table = Table(
        columns=["column", "kind", "method", "score", "threshold", "drifted"],
        data=[[f.column, f.kind, f.method, f.score, f.threshold, f.drifted] for f in rows],
    )
    logged: dict[str, Any] = {"drift": table}
    fig = _chart(report)
    if fig is not None:
        import matplotlib.pyplot as plt

        logged["drift_scores"] = Image(fig)
        plt.close(fig)
    run.log(logged)
    run.summary.update(
        {
            "drift_share": report.share,
            "dataset_drift": report.drifted,
            "drifted_columns": len(report.drifted_columns),
            "columns": len(report.features),
            **(
                {
                    "prediction_drift": report.prediction.drifted,
                    "prediction_score": report.prediction.score,
                }
                if report.prediction
                else {}
            ),
        }
    )
    keep = Path(tempfile.mkdtemp(prefix="stepline-monitor-"))
    html = keep / "report.html"
    html.write_text(render_html(report, model=model_ref, current=described, run_id=run.id))
    (keep / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    art = Artifact(
        f"{_base_name(used, model_ref)}.drift",
        type=REPORT_TYPE,
        description=f"Drift of {described} against {model_ref}'s reference",
        metadata={
            "model": model_ref,
            "current": described,
            "drifted": report.drifted,
            "share": report.share,
            "drift_share": report.drift_share,
        },
    )
    art.add_file(str(html))
    art.add_file(str(keep / "report.json"))
    logged_art = run.log_artifact(art)
    return MonitorResult(
        report=report,
        run_id=run.id,
        project=run.project,
        report_ref=logged_art.qualified_name,
        html=html,
        current=described,
    )


def _base_name(used: list[Any], model_ref: str) -> str:
    from stepline.tracking import naming

    if used:
        return str(used[0].name)
    name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in Path(model_ref).name)
    return naming.check_name(name or "model")
