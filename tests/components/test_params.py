import shlex
import subprocess
from pathlib import Path

import pytest

from stepline.components.mlproject import EntryPoint, Parameter
from stepline.components.params import InvalidParameter, render
from stepline.errors import SpecError


def ep(command: str, **params: Parameter) -> EntryPoint:
    return EntryPoint("main", command, params)


def test_quote_then_format_and_extras() -> None:
    e = ep("python run.py {a} --b {b}", a=Parameter("a"), b=Parameter("b", "int", 42))
    r = render(e, {"a": "x y", "zzz": "it's"})
    assert r.parameters == {"a": "x y", "b": "42", "zzz": "it's"}
    assert r.command == "python run.py 'x y' --b 42 --zzz " + shlex.quote("it's")


def test_defaults_stringified() -> None:
    e = ep(
        "{a} {b} {c} {d}",
        a=Parameter("a", "str", "none"),
        b=Parameter("b", "str", "null"),
        c=Parameter("c", "string", ""),
        d=Parameter("d", "number", 0.3),
    )
    assert render(e).parameters == {"a": "none", "b": "null", "c": "", "d": "0.3"}
    assert render(e).command == "none null '' 0.3"


def test_required_missing() -> None:
    with pytest.raises(InvalidParameter, match=r"'x' is required.*-P x=VALUE"):
        render(ep("{x}", x=Parameter("x")))


@pytest.mark.parametrize(
    ("ptype", "value", "ok"),
    [
        ("float", "1e-3", True),
        ("float", "abc", False),
        ("number", "3", True),
        ("number", "x", False),
        ("int", "42", True),
        ("int", "4.2", False),
        ("uri", "https://a/b.csv", True),
        ("uri", "file:///tmp/x", True),
        ("uri", "data/x.csv", False),
        ("uri", "C:/x", False),
    ],
)
def test_type_checks(ptype: str, value: str, ok: bool) -> None:
    e = ep("{x}", x=Parameter("x", ptype))
    if ok:
        assert render(e, {"x": value}).parameters["x"] == value
    else:
        with pytest.raises(InvalidParameter, match=f"parameter 'x' is a.? {ptype}"):
            render(e, {"x": value})


def test_path_absolute_and_exists(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a\n")
    e = ep("cat {p}", p=Parameter("p", "path"))
    r = render(e, {"p": "d.csv"}, cwd=tmp_path)
    assert r.parameters["p"] == str(tmp_path / "d.csv")
    with pytest.raises(InvalidParameter, match="does not exist"):
        render(e, {"p": "missing.csv"}, cwd=tmp_path)


def test_unknown_placeholder() -> None:
    with pytest.raises(SpecError, match=r"uses \{y\}.*declared: x"):
        render(ep("{y}", x=Parameter("x", "str", "1")))


def test_course_shapes_through_bash() -> None:
    e = ep(
        "echo main.steps=\\'{steps}\\' $(echo {hydra_options}) \\\n  --end",
        steps=Parameter("steps", "str", "all"),
        hydra_options=Parameter("hydra_options", "str", ""),
    )
    r = render(e, {"hydra_options": "a=1 b=2"})
    out = subprocess.run(["bash", "-c", r.command], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "main.steps='all' a=1 b=2 --end"
