"""`planning_memo`: while a sweep plans its executions, each component folder is read once."""

from __future__ import annotations

from pathlib import Path

from stepline.components import prepare
from stepline.components.memo import planning_memo


def _component(d: Path, command: str) -> None:
    d.mkdir(exist_ok=True)
    (d / "MLproject").write_text(f"name: c\nentry_points:\n  main:\n    command: {command}\n")


def test_a_folder_is_read_once_inside_the_block_and_afresh_outside(tmp_path: Path) -> None:
    d = tmp_path / "c"
    _component(d, "echo one")
    with planning_memo():
        first = prepare(d)
        _component(d, "echo two")  # changed while planning: the block keeps its first reading
        again = prepare(d)
        assert (again.command, again.source_digest) == (first.command, first.source_digest)
    after = prepare(d)
    assert after.command == "echo two" and after.source_digest != first.source_digest
    _component(d, "echo three")
    assert prepare(d).command == "echo three"  # no block: every prepare reads the folder
