"""Downloads never alias the store, and never hand out bytes that differ from the manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.backends import get_backend
from stepline.backends.fsck import fsck
from stepline.errors import CorruptObject, InvalidValue
from stepline.store.hashing import hash_bytes


def _log(tmp_path: Path, name: str = "table.csv", data: bytes = b"a,b\n1,2\n") -> stepline.Artifact:
    src = tmp_path / "src" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    with stepline.init(project="p", reinit="create_new") as run:
        art = stepline.Artifact(name, type="data")
        art.add_file(src)
        run.log_artifact(art)
    return art


def _object_path(art: stepline.Artifact) -> Path:
    (entry,) = art.manifest().entries.values()
    return get_backend().objects.path(entry.digest)  # type: ignore[attr-defined, no-any-return]


def test_editing_a_downloaded_file_leaves_the_store_intact(tmp_path: Path) -> None:
    art = _log(tmp_path)
    got = Path(stepline.Api().artifact("p/table.csv:v0").file(tmp_path / "dl"))
    assert got.stat().st_ino != _object_path(art).stat().st_ino
    with open(got, "w") as fh:  # what df.to_csv(path) does, whoever the user is (root too)
        fh.write("edited\n")
    assert fsck(get_backend()).clean
    again = Path(stepline.Api().artifact("p/table.csv:v0").file(tmp_path / "dl2"))
    assert again.read_bytes() == b"a,b\n1,2\n"


def test_hard_links_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    art = _log(tmp_path)
    monkeypatch.setenv("STEPLINE_LINK_TYPE", "hardlink")
    got = Path(stepline.Api().artifact("p/table.csv:v0").file(tmp_path / "dl"))
    assert got.stat().st_ino == _object_path(art).stat().st_ino
    monkeypatch.setenv("STEPLINE_LINK_TYPE", "symlink")
    got = Path(stepline.Api().artifact("p/table.csv:v0").file(tmp_path / "dl-sym"))
    assert got.is_symlink() and got.read_bytes() == b"a,b\n1,2\n"


def test_an_unknown_link_type_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(tmp_path)
    monkeypatch.setenv("STEPLINE_LINK_TYPE", "reflink,teleport")
    with pytest.raises(InvalidValue, match=r"STEPLINE_LINK_TYPE.*teleport.*reflink, copy"):
        stepline.Api().artifact("p/table.csv:v0").download(tmp_path / "dl")


def _flip_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        first = fh.read(1)
        fh.seek(0)
        fh.write(bytes([first[0] ^ 0x01]))
    os.chmod(path, st.st_mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("link_type", ["reflink,copy", "copy", "hardlink", "symlink"])
def test_a_flipped_byte_that_keeps_size_and_mtime_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, link_type: str
) -> None:
    monkeypatch.setenv("STEPLINE_LINK_TYPE", link_type)
    art = _log(tmp_path)
    version = stepline.Api().artifact("p/table.csv:v0")
    version.download(tmp_path / "warm")  # the object is now known to the stat cache
    _flip_keeping_size_and_mtime(_object_path(art))
    with pytest.raises(CorruptObject, match=r"p/table\.csv:v0.*'table\.csv'.*corrupt"):
        version.download(tmp_path / "dl")
    assert not (tmp_path / "dl" / "table.csv").exists()
    assert not [p for p in (tmp_path / "dl").iterdir()]  # no partial copy left behind


def test_artifacts_get_exits_non_zero_on_a_flipped_byte(tmp_path: Path) -> None:
    art = _log(tmp_path)
    get = [str(Path(sys.executable).parent / "stepline"), "artifacts", "get", "p/table.csv:v0"]
    ok = subprocess.run([*get, "--root", "warm"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    _flip_keeping_size_and_mtime(_object_path(art))
    bad = subprocess.run([*get, "--root", "dl"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "p/table.csv:v0" in bad.stderr and "corrupt" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "dl" / "table.csv").exists()


def test_download_of_a_tree_copies_every_file(tmp_path: Path) -> None:
    files = {f"d/part-{i}.bin": os.urandom(1000 + i) for i in range(12)}
    for name, data in files.items():
        (tmp_path / "tree" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / name).write_bytes(data)
    with stepline.init(project="p", reinit="create_new") as run:
        art = stepline.Artifact("tree", type="data")
        art.add_dir(tmp_path / "tree")
        run.log_artifact(art)
    out = Path(stepline.Api().artifact("p/tree:v0").download(tmp_path / "dl"))
    for name, data in files.items():
        assert hash_bytes((out / name).read_bytes()) == hash_bytes(data)
        assert (out / name).stat().st_nlink == 1


REFLINK_DIR = os.environ.get("STEPLINE_TEST_REFLINK_DIR")


@pytest.mark.skipif(
    not REFLINK_DIR,
    reason="set STEPLINE_TEST_REFLINK_DIR to a folder on XFS/btrfs to test reflinks",
)
def test_reflinks_on_a_reflink_filesystem_are_verified_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from stepline import backends

    base = Path(tempfile.mkdtemp(dir=REFLINK_DIR))
    monkeypatch.setenv("STEPLINE_DIR", str(base / ".stepline"))
    monkeypatch.setenv("STEPLINE_LINK_TYPE", "reflink")  # reflink or fail: no silent copy
    backends.reset()
    art = _log(base, data=os.urandom(1 << 20))
    got = Path(stepline.Api().artifact("p/table.csv:v0").file(base / "dl"))
    assert got.stat().st_ino != _object_path(art).stat().st_ino
    got.write_bytes(b"edited")
    assert fsck(get_backend()).clean
    _flip_keeping_size_and_mtime(_object_path(art))
    with pytest.raises(CorruptObject, match="corrupt"):
        stepline.Api().artifact("p/table.csv:v0").download(base / "dl2")
    assert not (base / "dl2" / "table.csv").exists()


def test_a_download_never_writes_through_a_symlink_in_its_folder(tmp_path: Path) -> None:
    """A symlinked folder inside the target that leads outside is refused before anything is
    written; a symlink where a file goes is replaced by the file, its target left untouched."""
    from stepline.errors import PathEscape

    src = tmp_path / "src" / "data"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("new\n")
    with stepline.init(project="p", reinit="create_new") as run:
        art = stepline.Artifact("tree", type="data")
        art.add_dir(tmp_path / "src")
        run.log_artifact(art)
    version = stepline.Api().artifact("p/tree:v0")

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("precious\n")
    target = tmp_path / "dl"
    target.mkdir()
    (target / "data").symlink_to(outside)
    with pytest.raises(PathEscape, match="outside"):
        version.download(target)
    assert (outside / "a.txt").read_text() == "precious\n"

    other = tmp_path / "dl2"
    (other / "data").mkdir(parents=True)
    (other / "data" / "a.txt").symlink_to(outside / "a.txt")
    version.download(other)
    assert not (other / "data" / "a.txt").is_symlink()
    assert (other / "data" / "a.txt").read_text() == "new\n"
    assert (outside / "a.txt").read_text() == "precious\n"
