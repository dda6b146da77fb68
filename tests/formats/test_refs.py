"""The one reference grammar (`stepline.formats.refs`): every form, and one error for the rest."""

from __future__ import annotations

import pytest

from stepline.errors import InvalidReference
from stepline.formats.refs import (
    ARTIFACT_FORMS,
    MODEL_FORMS,
    ArtifactRef,
    find_ref,
    parse_any,
    parse_model_ref,
    parse_ref,
)


@pytest.mark.parametrize(
    ("text", "project", "name", "selector", "version"),
    [
        ("sample.csv", None, "sample.csv", "latest", None),
        ("sample.csv:reference", None, "sample.csv", "reference", None),
        ("clean_sample.csv:v3", None, "clean_sample.csv", "v3", 3),
        ("nyc_airbnb/sample.csv:latest", "nyc_airbnb", "sample.csv", "latest", None),
        ("me/nyc_airbnb/model_export:prod", "nyc_airbnb", "model_export", "prod", None),
        ("  padded:v0 ", None, "padded", "v0", 0),
    ],
)
def test_artifact_forms(
    text: str, project: str | None, name: str, selector: str, version: int | None
) -> None:
    ref = parse_ref(text)
    assert (ref.project, ref.name, ref.selector, ref.version) == (project, name, selector, version)
    assert ref.kind == "artifact"
    assert parse_ref(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "name", "selector", "version"),
    [
        ("rental_prices", "rental_prices", "latest", None),
        ("rental_prices@prod", "rental_prices", "prod", None),
        ("models:/rental_prices@prod", "rental_prices", "prod", None),
        ("model-registry/rental_prices@prod", "rental_prices", "prod", None),
        ("rental_prices:v2", "rental_prices", "v2", 2),
        ("rental_prices:2", "rental_prices", "v2", 2),
        ("models:/rental_prices/2", "rental_prices", "v2", 2),
        ("model-registry/rental_prices:v02", "rental_prices", "v2", 2),
    ],
)
def test_model_forms(text: str, name: str, selector: str, version: int | None) -> None:
    ref = parse_model_ref(text)
    assert (ref.name, ref.selector, ref.version, ref.kind) == (name, selector, version, "model")
    assert parse_model_ref(str(ref)) == ref


@pytest.mark.parametrize(
    "text", ["a:b:c", "a/b/c/d", "name:", ":alias", "has space", "x/y:z/w", "€uro", "a\x00b"]
)
def test_malformed_artifact_refs_name_the_ref_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_ref(text)
    assert repr(text) in str(err.value) and ARTIFACT_FORMS in str(err.value)


@pytest.mark.parametrize(
    "text", ["models:/", "models:/rf/x", "rf@", "rf@a@b", "models:/rf/1/2", "rf:vx", "@prod"]
)
def test_malformed_model_refs_name_the_ref_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_model_ref(text)
    assert repr(text) in str(err.value) and MODEL_FORMS in str(err.value)


def test_empty_and_non_strings() -> None:
    for bad in ("", "   ", None, 3):
        with pytest.raises(InvalidReference, match="non-empty string"):
            parse_ref(bad)  # type: ignore[arg-type]


def test_registry_forms_are_told_apart_from_artifact_forms() -> None:
    assert parse_any("rf@prod").kind == "model"
    assert parse_any("models:/rf/3").version == 3
    assert parse_any("rf:v3") == ArtifactRef(None, "rf", "v3")  # an artifact version


def test_find_ref_takes_only_values_written_with_a_selector() -> None:
    assert find_ref("sample.csv") is None
    assert find_ref("https://example.com/a:b") is None
    assert find_ref("a b:c") is None
    ref = find_ref("nyc/clean.csv:reference")
    assert ref is not None and (ref.project, ref.name, ref.selector) == (
        "nyc",
        "clean.csv",
        "reference",
    )
