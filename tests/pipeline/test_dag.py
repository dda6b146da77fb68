"""DAG building, ordering, selection and cycle reporting (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepline.errors import SpecError
from stepline.formats.refs import ArtifactRef, parse_ref
from stepline.pipeline.dag import build_dag


@dataclass
class S:
    name: str
    inputs: tuple[ArtifactRef, ...] = ()
    outputs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


def steps(*items: S) -> dict[str, S]:
    return {s.name: s for s in items}


def chain() -> dict[str, S]:
    return steps(
        S("download", outputs=("sample.csv",)),
        S("clean", inputs=(parse_ref("sample.csv:latest"),), outputs=("clean.csv",)),
        S("check", inputs=(parse_ref("clean.csv"), parse_ref("clean.csv:reference"))),
        S(
            "split",
            inputs=(parse_ref("clean.csv:latest"),),
            outputs=("train.csv",),
            after=("check",),
        ),
        S("other", outputs=("x",)),
    )


def test_edges_order_and_levels() -> None:
    dag = build_dag(chain())
    assert dag.upstream["clean"] == {"download"}
    assert dag.upstream["check"] == {"clean"}  # :reference comes from the store
    assert dag.upstream["split"] == {"clean", "check"}
    assert dag.order() == ["download", "clean", "check", "split", "other"]
    assert dag.levels() == [["download", "other"], ["clean"], ["check"], ["split"]]


def test_select_and_from() -> None:
    dag = build_dag(chain())
    assert dag.select(only=["split", "download"]) == ["download", "split"]
    assert dag.select(from_step="clean") == ["clean", "check", "split"]
    assert dag.select(only=["check", "other"], from_step="clean") == ["check"]
    with pytest.raises(SpecError, match="--from nope: no such step; steps are download"):
        dag.select(from_step="nope")
    with pytest.raises(SpecError, match="-s nope"):
        dag.select(only=["nope"])


def test_cycle_names_its_path() -> None:
    items = steps(
        S("a", inputs=(parse_ref("z"),), outputs=("x",)),
        S("b", inputs=(parse_ref("x"),), outputs=("y",)),
        S("c", inputs=(parse_ref("y"),), outputs=("z",)),
    )
    with pytest.raises(
        SpecError,
        match=r"cycle in pipeline steps: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)",
    ):
        build_dag(items)


def test_self_input_is_rejected() -> None:
    with pytest.raises(SpecError, match="its own output"):
        build_dag(steps(S("a", inputs=(parse_ref("x"),), outputs=("x",))))


@given(st.lists(st.lists(st.integers(0, 7), max_size=3), min_size=1, max_size=8))
def test_order_respects_every_edge(deps: list[list[int]]) -> None:
    # only backward edges (i depends on j < i) so the graph is acyclic
    items = steps(
        *[
            S(f"s{i}", after=tuple(sorted({f"s{j}" for j in d if j < i})))
            for i, d in enumerate(deps)
        ]
    )
    dag = build_dag(items)
    order = dag.order()
    assert sorted(order) == sorted(items)
    for i, name in enumerate(order):
        assert dag.upstream[name] <= set(order[:i])
    for name in items:
        assert name not in dag.descendants(name)
        for d in dag.descendants(name):
            assert name in dag.ancestors(d)
