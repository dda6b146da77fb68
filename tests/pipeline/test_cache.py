"""Cache keys: stable under reordering, sensitive to every field (properties)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stepline.pipeline.cache import KEY_FIELDS, cache_key, explain

text = st.text(min_size=1, max_size=8)
mapping = st.dictionaries(text, text, max_size=4)


@given(text, text, mapping, mapping, text)
def test_key_ignores_mapping_order(src: str, ep: str, params: dict, inputs: dict, env: str) -> None:
    a = cache_key(
        source_digest=src, entry_point=ep, parameters=params, inputs=inputs, env_digest=env
    )
    b = cache_key(
        source_digest=src,
        entry_point=ep,
        parameters=dict(reversed(list(params.items()))),
        inputs=dict(reversed(list(inputs.items()))),
        env_digest=env,
    )
    assert a.key == b.key and explain(a.fields, b.fields) == []


@given(text, text, mapping, mapping, text, st.sampled_from(KEY_FIELDS), text)
def test_any_field_change_changes_key_and_is_explained(
    src: str, ep: str, params: dict, inputs: dict, env: str, field: str, new: str
) -> None:
    base = {
        "source_digest": src,
        "entry_point": ep,
        "parameters": params,
        "inputs": inputs,
        "env_digest": env,
    }
    changed = dict(base)
    if field in ("parameters", "inputs"):
        fresh = max(base[field], default="") + "~"  # type: ignore[type-var]
        changed[field] = {**base[field], fresh: new}  # type: ignore[dict-item]
    else:
        changed[field] = base[field] + new  # type: ignore[operator]
    a, b = cache_key(**base), cache_key(**changed)  # type: ignore[arg-type]
    assert a.key != b.key
    changes = explain(a.fields, b.fields)
    assert changes and {c.field for c in changes} == {field}
