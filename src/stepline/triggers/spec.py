"""The `triggers:` section of `pipeline.yaml`, validated.

    triggers:
      debounce: 30                  # seconds a new artifact version must stay the newest
      on:                           # name -> one event source (exactly one of the three kinds)
        new_sample:
          artifact: sample.csv      # a new version, logged outside this pipeline's own runs
        nightly:
          schedule: "0 3 * * *"     # cron, 5 fields, UTC
          overrides: [etl.sample=sample2.csv]   # optional, per trigger, Hydra-style
        drifted:
          drift: random_forest_export:prod
          threshold: 0.5            # share of drifted columns above which it fires
          every: 600                # seconds between two drift checks
      test:                         # the step that scores a model, run on candidate and prod
        step: test_regression_model
        model_parameter: mlflow_model
      promote:                      # optional: without it a trigger only re-runs the pipeline
        model: random_forest_export # the artifact the pipeline makes (the candidate)
        alias: prod
        metric: mae                 # read from the test step's run summary
        mode: min                   # min: lower is better; max: higher is better
        min_improvement: 0.5        # by at least this much over prod

`parse_triggers(raw, file, steps)` raises `SpecError` naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline.errors import InvalidReference, SpecError

KINDS = ("artifact", "schedule", "drift")
SECTION_KEYS = ("on", "test", "promote", "debounce")
TRIGGER_KEYS = {
    "artifact": ("artifact", "overrides"),
    "schedule": ("schedule", "overrides"),
    "drift": ("drift", "threshold", "every", "overrides"),
}
TEST_KEYS = ("step", "model_parameter")
PROMOTE_KEYS = ("model", "alias", "metric", "mode", "min_improvement")


@dataclass(frozen=True)
class Trigger:
    """One event source: `kind` is artifact, schedule or drift; `target` what it watches."""

    name: str
    kind: str
    target: str  # artifact name, cron expression, or model reference
    threshold: float = 0.5
    every: float = 600.0
    overrides: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "artifact":
            return f"new version of {self.target}"
        if self.kind == "schedule":
            return f"schedule {self.target!r} (UTC)"
        return f"drift of {self.target} above {self.threshold:g} (checked every {self.every:g} s)"


@dataclass(frozen=True)
class TestStep:
    """The pipeline step that scores a model, and its parameter that names the model."""

    __test__ = False  # not a pytest class

    step: str
    model_parameter: str


@dataclass(frozen=True)
class Promote:
    """Move `alias` of `model` to the candidate when `metric` improves by `min_improvement`."""

    model: str
    metric: str
    alias: str = "prod"
    mode: str = "min"
    min_improvement: float = 0.0

    def improvement(self, candidate: float, current: float) -> float:
        """How much better `candidate` is than `current` (positive: better)."""
        return current - candidate if self.mode == "min" else candidate - current


@dataclass(frozen=True)
class Triggers:
    """A pipeline's triggers, the step that tests a model and the promotion policy."""

    on: Mapping[str, Trigger] = field(default_factory=dict)
    test: TestStep | None = None
    promote: Promote | None = None
    debounce: float = 0.0


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    if value < minimum:
        raise SpecError(f"{where}: must be at least {minimum:g}, got {value!r}")
    return float(value)


def _unknown(body: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise SpecError(f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(allowed)}")


def _overrides(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: expected a list of overrides such as etl.sample=sample2.csv")
    return tuple(value)


def _trigger(name: str, body: Any, where: str) -> Trigger:
    body = _mapping(body, where)
    kinds = [k for k in KINDS if k in body]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise SpecError(
            f"{where}: give exactly one of artifact:, schedule:, drift: (found {found})"
        )
    kind = kinds[0]
    _unknown(body, TRIGGER_KEYS[kind], where)
    target = body[kind]
    if not isinstance(target, str) or not target.strip():
        raise SpecError(f"{where}.{kind}: expected text, got {target!r}")
    target = target.strip()
    overrides = _overrides(body.get("overrides"), f"{where}.overrides")
    if kind == "artifact":
        if ":" in target:
            raise SpecError(
                f"{where}.artifact: name the artifact only (e.g. sample.csv), not {target!r}"
            )
        return Trigger(name, kind, target, overrides=overrides)
    if kind == "schedule":
        from stepline.triggers.cron import check

        try:
            check(target)
        except ValueError as exc:
            raise SpecError(f"{where}.schedule: {exc}") from exc
        return Trigger(name, kind, target, overrides=overrides)
    from stepline.formats.refs import parse_ref

    try:
        parse_ref(target)
    except InvalidReference as exc:
        raise SpecError(f"{where}.drift: {exc}") from exc
    threshold = _number(body.get("threshold", 0.5), f"{where}.threshold")
    if threshold > 1:
        raise SpecError(f"{where}.threshold: a share of drifted columns, 0 to 1; got {threshold}")
    every = _number(body.get("every", 600), f"{where}.every", minimum=1)
    return Trigger(name, kind, target, threshold=threshold, every=every, overrides=overrides)


def parse_triggers(raw: Any, file: Path, steps: Mapping[str, Any]) -> Triggers:
    """Validate a `triggers:` section against the pipeline's steps (a mapping name -> step)."""
    where = f"{file}: triggers"
    body: dict[Any, Any] = dict(_mapping(raw, where))
    if True in body and "on" not in body:  # YAML 1.1 reads a bare `on:` key as true
        body["on"] = body.pop(True)
    _unknown(body, SECTION_KEYS, where)
    on_raw = _mapping(body.get("on") or {}, f"{where}.on")
    if not on_raw:
        raise SpecError(f"{where}.on: name at least one trigger, e.g. nightly: {{schedule: ...}}")
    on: dict[str, Trigger] = {}
    for name, trig in on_raw.items():
        name = str(name)
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise SpecError(f"{where}.on: trigger name {name!r}: use letters, digits, '_', '-'")
        on[name] = _trigger(name, trig, f"{where}.on.{name}")
    debounce = _number(body.get("debounce", 0), f"{where}.debounce")

    test = None
    if body.get("test") is not None:
        t = _mapping(body["test"], f"{where}.test")
        _unknown(t, TEST_KEYS, f"{where}.test")
        for key in TEST_KEYS:
            if not isinstance(t.get(key), str):
                raise SpecError(f"{where}.test.{key}: required (text)")
        if t["step"] not in steps:
            raise SpecError(f"{where}.test.step: no step {t['step']!r}; steps: {', '.join(steps)}")
        params = getattr(steps[t["step"]], "parameters", {})
        if t["model_parameter"] not in params:
            raise SpecError(
                f"{where}.test.model_parameter: step {t['step']!r} sets no parameter "
                f"{t['model_parameter']!r}; it sets: {', '.join(params) or 'none'}"
            )
        test = TestStep(t["step"], t["model_parameter"])

    promote = None
    if body.get("promote") is not None:
        p = _mapping(body["promote"], f"{where}.promote")
        _unknown(p, PROMOTE_KEYS, f"{where}.promote")
        for key in ("model", "metric"):
            if not isinstance(p.get(key), str) or not p[key]:
                raise SpecError(f"{where}.promote.{key}: required (text)")
        mode = p.get("mode", "min")
        if mode not in ("min", "max"):
            raise SpecError(f"{where}.promote.mode: min or max, got {mode!r}")
        alias = p.get("alias", "prod")
        if not isinstance(alias, str) or alias == "latest":
            raise SpecError(f"{where}.promote.alias: an alias other than latest, got {alias!r}")
        producers = [s for s, st in steps.items() if p["model"] in getattr(st, "outputs", ())]
        if not producers:
            raise SpecError(
                f"{where}.promote.model: no step has {p['model']!r} in its outputs; "
                "name the artifact the pipeline makes"
            )
        if test is None:
            raise SpecError(f"{where}.promote: needs test: (the step that scores a model)")
        promote = Promote(
            model=p["model"],
            metric=p["metric"],
            alias=alias,
            mode=mode,
            min_improvement=_number(
                p.get("min_improvement", 0), f"{where}.promote.min_improvement"
            ),
        )
    return Triggers(on=on, test=test, promote=promote, debounce=debounce)
