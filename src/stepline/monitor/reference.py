"""The reference profile: what a model's training data looked like, kept with the model.

`stepline.models.save(..., reference_data=X_train)` profiles the training inputs and the
model's predictions on them into `reference_profile.json` inside the package. When a run logs
an artifact holding such a package, `log_reference_profile` also logs that file as an
artifact of type `profile`, named `<model artifact>.profile`, from the same run: in lineage it
is a sibling of the model, downstream of the run's inputs (the training data). Its metadata
names the model version (`model`) and those inputs (`training_data`).

Example:
    >>> prof, art = reference_for(backend, model_artifact, package_dir)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stepline.errors import NotFound

REFERENCE_FILE = "reference_profile.json"
PROFILE_TYPE = "profile"


def write_reference(root: Path, model: Any, reference_data: Any) -> Path:
    """Profile `reference_data` and `model.predict(reference_data)` into `root`."""
    from stepline.monitor.profile import profile_frame

    predictions = model.predict(reference_data)
    profile = profile_frame(reference_data, predictions=predictions)
    target = root / REFERENCE_FILE
    target.write_text(json.dumps(profile.to_dict()))
    return target


def profile_name(model_name: str) -> str:
    return f"{model_name}.profile"


def _package_profile_entry(entries: dict[str, Any]) -> tuple[str, Any] | None:
    for path, entry in entries.items():
        name = path.rsplit("/", 1)
        parent = name[0] + "/" if len(name) == 2 else ""
        if name[-1] == REFERENCE_FILE and f"{parent}MLmodel" in entries:
            return path, entry
    return None


def log_reference_profile(backend: Any, model: Any, project: str, run_id: str | None) -> Any:
    """When logged artifact `model` holds a package with a reference profile, log the profile
    as `<name>.profile` (type profile) from the same run; return it, or None."""
    from stepline.tracking.artifact import Artifact, log_artifact

    if model.type == PROFILE_TYPE:
        return None
    found = _package_profile_entry(model._entries)
    if found is None:
        return None
    _, entry = found
    inputs = [v.ref for v in backend.inputs(run_id)] if run_id else []
    profile = Artifact(
        profile_name(model.name),
        type=PROFILE_TYPE,
        description=f"Reference profile of {model.qualified_name}'s training data",
        metadata={"model": model.qualified_name, "training_data": inputs},
    )
    profile._entries["profile.json"] = entry
    return log_artifact(backend, profile, project, run_id, ())


def reference_for(backend: Any, model: Any | None, package: Path) -> tuple[Any, Any]:
    """The reference Profile of a model (from its package) and its profile artifact (or None)."""
    from stepline.monitor.profile import Profile
    from stepline.tracking.artifact import Artifact

    file = package / REFERENCE_FILE
    if not file.is_file():
        raise NotFound(
            f"model package {package} has no {REFERENCE_FILE}: save it with "
            "stepline.models.save(..., reference_data=X_train) to monitor it"
        )
    profile = Profile.from_dict(json.loads(file.read_text()))
    artifact = None
    if model is not None:
        try:
            versions = backend.list_versions(model.project, profile_name(model.name))
        except NotFound:
            versions = []
        for version in reversed(versions):
            if (version.metadata or {}).get("model") == model.qualified_name:
                artifact = Artifact._from_record(backend, version)
                break
    return profile, artifact
