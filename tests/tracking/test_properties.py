"""Property tests for the version and alias rules."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stepline
from stepline.backends.local import LocalBackend
from stepline.store.manifest import Entry, Manifest

contents = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=8)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seq=contents)
def test_one_version_per_distinct_content_and_latest_on_the_last_logged(
    tmp_path: Path, seq: list[str]
) -> None:
    # W&B (wandb PR #11340): content equal to ANY existing version returns that version
    backend = LocalBackend(tmp_path / f"s{abs(hash(tuple(seq)))}")
    expected: list[str] = []  # distinct contents, in the order first logged
    for text in seq:
        m = Manifest({"f": Entry(text * 8, 1)})
        record, created = backend.commit_version("p", "art", "t", m, None, {}, [], None)
        assert created == (text not in expected)
        if created:
            expected.append(text)
        assert record.version == expected.index(text)
        assert backend.resolve("p", "art", "latest").version == expected.index(text)
    versions = backend.list_versions("p", "art")
    assert [v.manifest.entries["f"].digest[0] for v in versions] == expected
    assert [v.version for v in versions if "latest" in v.aliases] == [expected.index(seq[-1])]
    backend.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moves=st.lists(
        st.tuples(st.sampled_from(["prod", "best", "reference"]), st.integers(0, 3)), max_size=12
    )
)
def test_each_alias_is_on_exactly_one_version(tmp_path: Path, moves: list[tuple[str, int]]) -> None:
    backend = LocalBackend(tmp_path / f"a{abs(hash(tuple(moves)))}")
    for i in range(4):
        backend.commit_version(
            "p", "art", "t", Manifest({"f": Entry(f"{i:08x}", 1)}), None, {}, [], None
        )
    where: dict[str, int] = {}
    for alias, version in moves:
        backend.set_alias("p", "art", version, alias)
        where[alias] = version
    versions = backend.list_versions("p", "art")
    for alias in ("prod", "best", "reference", "latest"):
        holders = [v.version for v in versions if alias in v.aliases]
        if alias == "latest":
            assert holders == [3]
        else:
            assert holders == ([where[alias]] if alias in where else [])
    backend.close()


def test_logging_identical_content_twice_yields_one_version(tmp_path: Path) -> None:
    for _ in range(2):
        (tmp_path / "x").write_text("same")
        with stepline.init(project="p", reinit="create_new") as run:
            a = stepline.Artifact("x", "t")
            a.add_file(tmp_path / "x")
            run.log_artifact(a)
    assert len(stepline.Api().artifact_versions("p/x")) == 1
