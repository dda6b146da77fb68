"""Bad run queries are errors that say what was wrong: filter syntax, states, keys no run has."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import stepline
from stepline.errors import UsageError
from stepline.metadata.query import parse_condition


def _runs() -> None:
    for mae, lr in ((0.5, 0.1), (2.0, 0.01)):
        with stepline.init(project="q", config={"lr": lr}) as run:
            run.summary["mae"] = mae
    with stepline.init(project="other") as run:
        run.summary["only_elsewhere"] = 1


def _sl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("stepline", path=os.path.dirname(sys.executable)) or "stepline"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("summary.mae<1", ("summary.mae", "$lt", 1)),
        ("summary.mae <= 0.5", ("summary.mae", "$lte", 0.5)),
        ("config.name!=rf", ("config.name", "$ne", "rf")),
        ("state=finished", ("state", "$eq", "finished")),
        ("config.model=a=b", ("config.model", "$eq", "a=b")),
    ],
)
def test_conditions_parse(text: str, parsed: tuple[str, str, object]) -> None:
    assert parse_condition(text) == parsed


@pytest.mark.parametrize(
    ("text", "column"),
    [("summary.mae<<1", 12), ("summary.mae<", 12), ("summary mae<1", 8), ("<1", 0)],
)
def test_bad_conditions_point_at_the_position(text: str, column: int) -> None:
    with pytest.raises(UsageError) as info:
        parse_condition(text)
    lines = str(info.value).splitlines()
    shown = next(i for i, line in enumerate(lines) if line.strip() == text)
    caret = lines[shown + 1]
    assert caret.index("^") - lines[shown].index(text) == column, str(info.value)
    assert "<=" in str(info.value)  # says what would be valid


def test_cli_filter_syntax_error_exits_2_with_a_caret() -> None:
    _runs()
    proc = _sl("runs", "ls", "-p", "q", "--filter", "summary.mae<<1")
    assert proc.returncode == 2
    assert "summary.mae<<1" in proc.stderr and "^" in proc.stderr
    assert "position 13" in proc.stderr


def test_unknown_state_lists_the_states() -> None:
    _runs()
    with pytest.raises(UsageError, match=r"'finshed'.*did you mean 'finished'.*crashed"):
        stepline.Api().runs("q", filters={"state": "finshed"})
    with pytest.raises(UsageError, match="finshed"):
        stepline.Api().runs("q", filters={"state": {"$in": ["finished", "finshed"]}})
    proc = _sl("runs", "ls", "-p", "q", "--state", "finshed")
    assert proc.returncode == 2 and "running, finished, failed, crashed, cached" in proc.stderr
    assert len(stepline.Api().runs("q", filters={"state": "finished"})) == 2


def test_sort_or_filter_on_a_key_no_run_has_lists_the_keys() -> None:
    _runs()
    with pytest.raises(
        UsageError, match=r"no run of project 'q' has 'summary\.nosuch'; summary keys: summary\.mae"
    ):
        stepline.Api().runs("q", order="-summary.nosuch")
    with pytest.raises(UsageError, match=r"config\.lrr'; did you mean 'config\.lr'"):
        stepline.Api().runs("q", filters={"config.lrr": {"$lt": 1}})
    with pytest.raises(UsageError, match=r"summary\.mae") as info:
        stepline.Api().runs("q", order="summary.only_elsewhere")
    assert "only_elsewhere" not in str(info.value).split("keys")[-1]
    proc = _sl("runs", "ls", "-p", "q", "--sort", "summary.nosuch")
    assert proc.returncode == 2 and "summary.mae" in proc.stderr, proc.stderr


def test_existing_keys_and_exists_filters_still_work() -> None:
    _runs()
    api = stepline.Api()
    assert [r.summary["mae"] for r in api.runs("q", order="summary.mae")] == [0.5, 2.0]
    assert len(api.runs("q", filters={"summary.mae": {"$lt": 1}})) == 1
    assert api.runs("q", filters={"summary.nosuch": {"$exists": False}}) != []
    assert api.runs("empty_project", order="-summary.anything") == []
    proc = _sl("runs", "ls", "-p", "q", "--filter", "summary.mae<1", "--json")
    assert proc.returncode == 0, proc.stderr
