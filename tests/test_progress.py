"""Long work reports progress to an observer (files and bytes), and only when one is installed."""

from __future__ import annotations

import itertools
from pathlib import Path

import stepline
from stepline import progress


def _tree(root: Path, n: int = 40) -> int:
    total = 0
    for i in range(n):
        f = root / f"part{i // 10}" / f"f{i}.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        data = bytes([i % 251]) * (1000 * (i + 1))
        f.write_bytes(data)
        total += len(data)
    return total


def test_storing_and_writing_a_tree_report_files_and_bytes(tmp_path: Path) -> None:
    total = _tree(tmp_path / "data")
    events: list[progress.Progress] = []
    art = stepline.Artifact("tree", type="data")
    with progress.observe(events.append):
        art.add_dir(str(tmp_path / "data"))
    stored = [e for e in events if e.task == "hash"]
    assert stored[0].done == 0 and stored[0].total == 40 and stored[0].bytes_total == total
    assert stored[-1].finished and stored[-1].done == 40 and stored[-1].bytes_done == total
    assert stored[-1].label == str(tmp_path / "data")
    with stepline.init(project="p") as run:
        run.log_artifact(art)
    events.clear()
    logged = stepline.Api().artifact("p/tree:latest")
    with progress.observe(events.append):
        logged.download(str(tmp_path / "out"))
    written = [e for e in events if e.task == "copy"]
    assert written[-1].finished and (written[-1].done, written[-1].bytes_done) == (40, total)
    assert all(a.bytes_done <= b.bytes_done for a, b in itertools.pairwise(written))


def test_no_observer_no_events(tmp_path: Path) -> None:
    _tree(tmp_path / "data", 5)
    seen: list[progress.Progress] = []
    with progress.observe(seen.append):
        pass
    stepline.Artifact("tree", type="data").add_dir(str(tmp_path / "data"))
    assert seen == [] and progress.current() is None
