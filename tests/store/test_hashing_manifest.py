from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepline.errors import PathEscape
from stepline.store.hashing import MMAP_THRESHOLD, hash_bytes, hash_file, hash_files
from stepline.store.manifest import Entry, Manifest, clean_entry_path, diff


def test_blake3_known_vector() -> None:
    # BLAKE3 of the empty input, from the BLAKE3 specification's test vectors
    assert hash_bytes(b"") == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_file_hash_equals_bytes_hash_small_and_large(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"hello")
    big = tmp_path / "big"
    data = bytes(range(256)) * ((MMAP_THRESHOLD // 256) + 7)
    big.write_bytes(data)
    assert hash_file(small) == hash_bytes(b"hello")
    assert hash_file(big) == hash_bytes(data)
    assert hash_files([str(small), str(big)], [5, len(data)]) == [
        hash_bytes(b"hello"),
        hash_bytes(data),
    ]


def test_manifest_digest_ignores_order_and_sizes() -> None:
    a = Manifest({"a.csv": Entry("11", 1), "b/c.txt": Entry("22", 2)})
    b = Manifest({"b/c.txt": Entry("22", 999), "a.csv": Entry("11", 5)})
    assert a.digest() == b.digest()
    c = Manifest({"a.csv": Entry("11", 1), "b/c.txt": Entry("23", 2)})
    assert a.digest() != c.digest()
    renamed = Manifest({"z.csv": Entry("11", 1), "b/c.txt": Entry("22", 2)})
    assert a.digest() != renamed.digest()


def test_manifest_json_roundtrip() -> None:
    m = Manifest({"x": Entry("aa", 3), "r": Entry("etag:1", 0, ref="s3://b/k")})
    assert Manifest.from_json(m.to_json()).entries == m.entries


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../x", "", ".", "C:/x"])
def test_entry_paths_cannot_escape(bad: str) -> None:
    with pytest.raises(PathEscape):
        clean_entry_path(bad)


def test_entry_paths_are_normalised() -> None:
    assert clean_entry_path("a/./b//c.txt") == "a/b/c.txt"
    assert clean_entry_path("a\\b.txt") == "a/b.txt"


def test_diff_lists_added_removed_changed() -> None:
    old = Manifest({"a": Entry("1", 1), "b": Entry("2", 1), "c": Entry("3", 1)})
    new = Manifest({"a": Entry("1", 1), "b": Entry("9", 1), "d": Entry("4", 1)})
    assert [(c.path, c.kind) for c in diff(old, new)] == [
        ("b", "changed"),
        ("c", "removed"),
        ("d", "added"),
    ]


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,5}(/[a-z]{1,5}){0,2}", fullmatch=True),
        st.from_regex(r"[0-9a-f]{8}", fullmatch=True),
        min_size=1,
        max_size=8,
    )
)
def test_manifest_digest_is_a_function_of_paths_and_digests(entries: dict[str, str]) -> None:
    m1 = Manifest({p: Entry(d, 1) for p, d in entries.items()})
    m2 = Manifest({p: Entry(d, 2) for p, d in reversed(list(entries.items()))})
    assert m1.digest() == m2.digest()
