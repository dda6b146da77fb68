"""Logged media read back: `ApiRun.media()/files()/file()`, Tables as rows and DataFrames, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stepline
from stepline.errors import Conflict, NotFound, UsageError


def _log_media() -> str:
    np = pytest.importorskip("numpy")
    with stepline.init(project="p") as run:
        run.log({"loss": 1.0, "img": stepline.Image(np.zeros((4, 4, 3), dtype=np.uint8))})
        run.log(
            {
                "loss": 0.5,
                "eval/preds": stepline.Table(columns=["id", "pred"], data=[[1, 0.5], [2, None]]),
            }
        )
        run.log({"img": stepline.Image(np.ones((2, 2), dtype=np.uint8), caption="second")})
    return run.id


def test_media_are_listed_with_key_step_type_and_size() -> None:
    run = stepline.Api().run(_log_media())
    media = run.media()
    assert [(m.key, m.step, m.type) for m in media] == [
        ("img", 0, "image"),
        ("eval/preds", 1, "table"),
        ("img", 2, "image"),
    ]
    assert media[2].caption == "second"
    assert all(m.size > 0 for m in media)
    assert media[0].name.startswith("media/images/img_0_") and media[0].name.endswith(".png")
    assert media[1].name.startswith("media/table/eval/preds_1_")
    assert media[1].name.endswith(".table.json")
    assert [m.key for m in run.media(key="img")] == ["img", "img"]
    assert [m.name for m in run.files()] == [m.name for m in media]


def test_image_file_downloads_as_png(tmp_path: Path) -> None:
    run = stepline.Api().run(_log_media())
    first = run.media(key="img")[0]
    path = run.file(first.name).download(root=tmp_path / "got")
    assert path == tmp_path / "got" / first.name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.read() == path.read_bytes()
    with pytest.raises(Conflict, match="replace=True"):
        first.download(root=tmp_path / "got")
    assert first.download(root=tmp_path / "got", exist_ok=True) == path
    assert first.download(root=tmp_path / "got", replace=True) == path


def test_table_reads_back_as_rows_and_dataframe() -> None:
    run = stepline.Api().run(_log_media())
    (entry,) = run.media(type="table")
    table = entry.table()
    assert table.columns == ["id", "pred"]
    assert table.data == [[1, 0.5], [2, None]]
    assert table.rows() == [{"id": 1, "pred": 0.5}, {"id": 2, "pred": None}]
    pd = pytest.importorskip("pandas")
    df = table.get_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["id", "pred"]
    assert df["id"].tolist() == [1, 2]


def test_table_from_a_dataframe_round_trips() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    with stepline.init(project="p") as run:
        run.log({"t": stepline.Table(dataframe=frame)})
    got = stepline.Api().run(run.id).media(key="t")[0].table().get_dataframe()
    assert got.to_dict("list") == frame.to_dict("list")


def test_unknown_file_and_image_as_table_are_errors() -> None:
    run = stepline.Api().run(_log_media())
    with pytest.raises(NotFound, match="media/images/img_0_"):
        run.file("media/nosuch.png")
    with pytest.raises(UsageError, match="image"):
        run.media(key="img")[0].table()


def _sl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("stepline", path=os.path.dirname(sys.executable)) or "stepline"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_runs_show_media_lists_and_json() -> None:
    run_id = _log_media()
    proc = _sl("runs", "show", run_id, "--media")
    assert proc.returncode == 0, proc.stderr
    assert "eval/preds" in proc.stdout and "table" in proc.stdout
    assert "media/images/img_0_" in proc.stdout
    data = json.loads(_sl("runs", "show", run_id, "--media", "--json").stdout)
    assert [(m["key"], m["step"], m["type"]) for m in data["media"]][:2] == [
        ("img", 0, "image"),
        ("eval/preds", 1, "table"),
    ]
    assert all(m["size"] > 0 and m["file"] for m in data["media"])
