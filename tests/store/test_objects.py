import os
from pathlib import Path

import pytest

from stepline.errors import CorruptObject
from stepline.store.hashing import hash_bytes
from stepline.store.ingest import ingest, walk
from stepline.store.objects import LocalObjectStore, oid_to_path
from stepline.store.statcache import StatCache


@pytest.fixture
def objects(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "store", StatCache(tmp_path / "stat.sqlite"))


def test_oid_to_path_shards_on_two_hex(tmp_path: Path) -> None:
    assert oid_to_path(tmp_path, "abcdef") == tmp_path / "ab" / "cdef"


def test_put_bytes_is_idempotent_and_read_only(objects: LocalObjectStore) -> None:
    oid = objects.put_bytes(b"data")
    assert oid == hash_bytes(b"data")
    assert objects.put_bytes(b"data") == oid
    path = objects.path(oid)
    assert path.read_bytes() == b"data"
    assert not (path.stat().st_mode & 0o222)
    assert list(objects.oids()) == [oid]
    assert not any(objects.tmp.iterdir())


def test_ingest_dedups_identical_files(objects: LocalObjectStore, tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("same")
    b.write_text("same")
    ea, eb = ingest(objects, [a, b])
    assert ea.digest == eb.digest == hash_bytes(b"same")
    assert len(list(objects.oids())) == 1


def test_stat_cache_knows_unchanged_files_and_notices_changes(
    objects: LocalObjectStore, tmp_path: Path
) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"one")
    os.utime(f, ns=(1_500_000_000 * 10**9, 1_500_000_000 * 10**9))  # old enough to trust
    (entry,) = ingest(objects, [f])
    assert objects.stat_cache.get(os.stat(f)) == entry.digest
    f.write_bytes(b"two")
    assert objects.stat_cache.get(os.stat(f)) is None
    (changed,) = ingest(objects, [f])
    assert changed.digest == hash_bytes(b"two")


def test_a_flipped_byte_is_detected_on_materialize(
    objects: LocalObjectStore, tmp_path: Path
) -> None:
    oid = objects.put_bytes(b"precious bytes")
    path = objects.path(oid)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.write(b"P")
    with pytest.raises(CorruptObject, match=str(path)):
        objects.materialize(oid, tmp_path / "out" / "file")
    assert not (tmp_path / "out" / "file").exists()


def test_materialize_links_and_skips_when_already_there(
    objects: LocalObjectStore, tmp_path: Path
) -> None:
    oid = objects.put_bytes(b"x" * 100)
    dest = tmp_path / "d" / "x"
    objects.materialize(oid, dest)
    assert dest.read_bytes() == b"x" * 100
    objects.materialize(oid, dest)  # same inode already: nothing to do
    dest.unlink()
    dest.write_bytes(b"stale")
    objects.materialize(oid, dest)
    assert dest.read_bytes() == b"x" * 100


def test_walk_refuses_links_out_of_the_folder(tmp_path: Path) -> None:
    from stepline.errors import PathEscape

    outside = tmp_path / "secret.txt"
    outside.write_text("s")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ok.txt").write_text("ok")
    (folder / "link.txt").symlink_to(outside)
    with pytest.raises(PathEscape, match="outside"):
        walk(folder)
    (folder / "link.txt").unlink()
    (folder / "inner.txt").symlink_to(folder / "ok.txt")
    assert [n for n, _ in walk(folder)] == ["inner.txt", "ok.txt"]
