"""Manifest digests over an unambiguous encoding, the v1 → v2 migration, and names refused
when they are added: control characters, over-long components and paths."""

from __future__ import annotations

from pathlib import Path

import blake3
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

import stepline
from stepline import backends
from stepline.errors import InvalidName, InvalidReference
from stepline.metadata.engine import SCHEMA_VERSION
from stepline.store.manifest import Entry, Manifest, clean_entry_path

H1, H2, H3 = "11" * 32, "22" * 32, "33" * 32


def _v1_digest(m: Manifest) -> str:
    """The digest stepline's format 1 gave a manifest: `path:digest` lines (ambiguous)."""
    hasher = blake3.blake3(b"stepline-manifest-v1\n")
    for p in sorted(m.entries):
        hasher.update(f"{p}:{m.entries[p].digest}\n".encode())
    return hasher.hexdigest()


def test_names_with_a_colon_and_a_newline_no_longer_collide() -> None:
    one = Manifest({"a": Entry(H1, 1), "b": Entry(H2, 1)})
    two = Manifest({f"a:{H1}\nb": Entry(H2, 1)})  # format 1 hashed both as the same lines
    assert _v1_digest(one) == _v1_digest(two)
    assert one.digest() != two.digest()


paths = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)


@given(
    st.dictionaries(paths, st.sampled_from([H1, H2, H3]), max_size=4),
    st.dictionaries(paths, st.sampled_from([H1, H2, H3]), max_size=4),
)
def test_different_manifests_have_different_digests(a: dict[str, str], b: dict[str, str]) -> None:
    ma = Manifest({p: Entry(d, 0) for p, d in a.items()})
    mb = Manifest({p: Entry(d, 0) for p, d in b.items()})
    assert (ma.digest() == mb.digest()) == (a == b)


@pytest.mark.parametrize(
    "bad", ["a\x00b", "a\nb", "x/\ty", "cr\r", "del\x7f", "c1\x85", "ok/" + "x" * 256]
)
def test_entry_paths_with_control_characters_or_too_long_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName, match="artifact path"):
        clean_entry_path(bad)


def test_a_path_over_4096_bytes_is_refused_when_added(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    art = stepline.Artifact("a", type="data")
    deep = "/".join(["d" * 200] * 21)  # 21 components of 200 bytes: 4220 bytes
    with pytest.raises(InvalidName, match="4096"):
        art.add_file(f, name=deep)
    with pytest.raises(InvalidName, match="255"):
        art.add_file(f, name="é" * 128 + ".csv")  # 128 characters, 260 bytes
    art.add_file(f, name="é" * 120 + ".csv")  # 244 bytes: fine


@pytest.mark.parametrize("bad", ["a\x00b", "ab\n", "tab\there"])
def test_names_with_control_characters_are_clear_errors_everywhere(
    bad: str, tmp_path: Path
) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(InvalidName, match="artifact name"):
        stepline.Artifact(bad, type="data")
    with pytest.raises(InvalidName, match="project name"):
        stepline.init(project=bad, reinit="create_new")
    with pytest.raises(InvalidName, match="artifact type"):
        stepline.Artifact("ok", type=bad)
    for key in ("name", "group", "job_type"):
        with pytest.raises(InvalidName, match=f"run {key}"):
            stepline.init(project="p", reinit="create_new", **{key: bad})  # type: ignore[arg-type]
    with pytest.raises(InvalidName, match="tag"):
        stepline.init(project="p", reinit="create_new", tags=[bad])
    with stepline.init(project="p", reinit="create_new") as run:
        art = stepline.Artifact("ok", type="data")
        art.add_file(f)
        with pytest.raises(InvalidName, match="alias"):
            run.log_artifact(art, aliases=[bad])
        with pytest.raises(InvalidReference, match="control character"):
            run.use_artifact(f"{bad}:latest")
    with pytest.raises(InvalidReference, match="control character"):
        stepline.Api().artifact(f"p/{bad}:latest")


def _log(tmp_path: Path, files: dict[str, bytes]) -> stepline.Artifact:
    for name, data in files.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    with stepline.init(project="p", reinit="create_new") as run:
        art = stepline.Artifact("tree", type="data")
        art.add_dir(tmp_path / "src")
        run.log_artifact(art)
    return art


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_format_1_store_is_migrated_keeping_version_numbers(
    tmp_path: Path,
    store: Path,
    db: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite:///{store / 'stepline.db'}"
    if db == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("STEPLINE_DATABASE_URL", url)
    _log(tmp_path, {"a.csv": b"1"})
    _log(tmp_path, {"a.csv": b"2", "b.csv": b"3"})
    backends.reset()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # make it look as stepline's format 1 left it
        rows = conn.execute(sa.text("SELECT id, manifest FROM versions")).all()
        for vid, text in rows:
            old = _v1_digest(Manifest.from_json(text))
            conn.execute(sa.text("UPDATE versions SET digest=:d WHERE id=:i"), {"d": old, "i": vid})
        conn.execute(sa.text("UPDATE schema_info SET version=1"))
    engine.dispose()
    versions = stepline.Api().backend.list_versions("p", "tree")
    assert [v.version for v in versions] == [0, 1]
    assert all(v.digest == v.manifest.digest() for v in versions)
    again = _log(tmp_path, {})  # the same tree as v1: still recognised as unchanged
    assert again.version == "v1"
    check = sa.create_engine(url)
    with check.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_info")).scalar() == SCHEMA_VERSION
    check.dispose()
