"""The ObjectStore port (`backend.objects`) on every adapter: the ten methods and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline.backends.base import Backend
from stepline.errors import StoreError
from stepline.store.hashing import hash_bytes


def test_put_and_read(backend: Backend, tmp_path: Path) -> None:
    objects = backend.objects
    oid = objects.put_bytes(b"hello")
    assert oid == hash_bytes(b"hello") and objects.put_bytes(b"hello") == oid
    assert objects.has(oid) and objects.get_bytes(oid) == b"hello" and objects.size_of(oid) == 5
    src = tmp_path / "f.bin"
    src.write_bytes(b"from a file" * 1000)
    fid = hash_bytes(src.read_bytes())
    assert objects.put_file(src, fid) is True
    assert objects.put_file(src, fid) is False  # already there
    with objects.open(fid) as f:
        assert f.read(4) == b"from" and f.read() == src.read_bytes()[4:]
    assert sorted(objects.oids()) == sorted([oid, fid])


def test_missing_answers_for_a_batch(backend: Backend) -> None:
    objects = backend.objects
    here = objects.put_bytes(b"here")
    gone = hash_bytes(b"not stored")
    assert objects.missing([here, gone, gone]) == {gone}
    assert objects.missing(iter([])) == set()
    assert objects.missing(x for x in [here]) == set()


def test_materialize_and_delete(backend: Backend, tmp_path: Path) -> None:
    objects = backend.objects
    oid = objects.put_bytes(b"content")
    dest = tmp_path / "deep" / "copy.txt"
    objects.materialize(oid, dest)
    assert dest.read_bytes() == b"content"
    dest.write_bytes(b"edited")  # a downloaded copy is the user's: the object is untouched
    assert objects.get_bytes(oid) == b"content"
    objects.delete(oid)
    objects.delete(oid)  # already gone: no error
    assert not objects.has(oid) and objects.missing([oid]) == {oid}
    assert list(objects.oids()) == []


def test_absent_objects_raise_store_errors(backend: Backend, tmp_path: Path) -> None:
    objects = backend.objects
    oid = hash_bytes(b"never stored")
    for read in (objects.get_bytes, objects.open, objects.size_of):
        with pytest.raises(StoreError):
            read(oid)
    with pytest.raises(StoreError):
        objects.materialize(oid, tmp_path / "x")
    assert not (tmp_path / "x").exists()
