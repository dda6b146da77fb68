"""Hostile parameter values, at every place a placeholder can stand, through a real `bash -c`.

Each case is a command template and the argument bash must hand `printf` for a value: the
program receives exactly that, and the canary file that the payloads try to create never
appears.
"""

import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepline.components.mlproject import PARAM_NAME, EntryPoint, Parameter
from stepline.components.params import InvalidParameter, render
from stepline.components.shellquote import render_template
from stepline.errors import SpecError

# printf prints each argument followed by NUL, so the test sees the argument vector exactly
PRINT = "printf '%s\\0'"

# template → what the one argument must be, given the value
PLACEMENTS = {
    "bare": (PRINT + " {x}", lambda v: v),
    "double": (PRINT + ' "{x}"', lambda v: v),
    "single": (PRINT + " '{x}'", lambda v: v),
    "ansi_c": (PRINT + " $'{x}'", lambda v: v),
    "locale": (PRINT + ' $"{x}"', lambda v: v),
    "double_with_text": (PRINT + ' "--x={x} and more"', lambda v: f"--x={v} and more"),
    "single_with_text": (PRINT + " 'a b {x}'c", lambda v: f"a b {v}c"),
    "glued": (PRINT + " --x={x}.csv", lambda v: f"--x={v}.csv"),
    "escaped_quotes": (PRINT + " main.steps=\\'{x}\\'", lambda v: f"main.steps='{v}'"),
    "subst_in_double": (PRINT + ' "$(printf %s {x})"', lambda v: v.rstrip("\n")),
    "subst_nested": (PRINT + ' "a$(printf %s "\'{x}\'")b"', lambda v: f"a'{v}'b"),
    "after_comment_line": ("# note: {x}\n" + PRINT + " {x}", lambda v: v),
}

# fragments an attacker would try, mixed with arbitrary text
PAYLOADS = [
    "'",
    '"',
    "\\",
    "`",
    "$",
    "$(",
    ")",
    ";",
    "&",
    "|",
    "\n",
    "\r",
    "'\"",
    "\\'",
    '\\"',
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary};",
    "';touch {canary};'",
    '";touch {canary};"',
    "'$(touch {canary})'",
    "\n touch {canary}\n",
    "${IFS}",
    "*",
    "~",
    "\\\n",
    "#",
    "$'",
    "'\\''",
    "é",
    "☃",
    "\t",
    "!",
    "{",
    "}",
]


def hostile(canary: Path) -> st.SearchStrategy[str]:
    piece = st.one_of(
        st.sampled_from([p.replace("{canary}", str(canary)) for p in PAYLOADS]),
        st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",)), max_size=5),
    )
    return st.lists(piece, max_size=8).map("".join)


def run_bash(command: str, cwd: Path) -> bytes:
    out = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, check=False)
    assert out.returncode == 0, (command, out.stderr)
    return out.stdout


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_value_reaches_the_program_unchanged(placement: str, tmp_path: Path, data) -> None:
    canary = tmp_path / "canary"
    value = data.draw(hostile(canary))
    template, expected = PLACEMENTS[placement]
    ep = EntryPoint("main", template, {"x": Parameter("x")})
    command = render(ep, {"x": value}).command
    printed = run_bash(command, tmp_path)
    assert printed == expected(value).encode() + b"\0", command
    assert not canary.exists(), command


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_undeclared_parameters_are_appended_as_one_argument_each(tmp_path: Path, data) -> None:
    canary = tmp_path / "canary"
    names = data.draw(
        st.lists(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True), max_size=3, unique=True
        )
    )
    names = [n for n in names if n != "x"]
    values = {n: data.draw(hostile(canary)) for n in names}
    ep = EntryPoint("main", PRINT + ' "{x}"', {"x": Parameter("x", "str", "1")})
    command = render(ep, values).command
    printed = run_bash(command, tmp_path)
    expected = [b"1"] + [part for n in names for part in (f"--{n}".encode(), values[n].encode())]
    assert printed.split(b"\0")[:-1] == expected, command
    assert not canary.exists(), command


@given(name=st.text(max_size=12).filter(lambda s: not PARAM_NAME.fullmatch(s)))
@settings(max_examples=100, deadline=None)
def test_parameter_names_outside_the_pattern_are_refused(name: str) -> None:
    ep = EntryPoint("main", "echo {x}", {"x": Parameter("x", "str", "1")})
    with pytest.raises(InvalidParameter, match=r"parameter name .* is not allowed") as err:
        render(ep, {name: "v"}, where="components/clean/MLproject (entry point 'main')")
    assert "components/clean/MLproject" in str(err.value)
    assert "[A-Za-z_][A-Za-z0-9_.-]*" in str(err.value)


def test_injection_through_a_parameter_name_is_refused(tmp_path: Path) -> None:
    ep = EntryPoint("main", "echo {x}", {"x": Parameter("x", "str", "1")})
    with pytest.raises(InvalidParameter, match=r"'x; touch canary; echo '"):
        render(ep, {"x; touch canary; echo ": "v"})


def test_nul_in_a_value_is_refused() -> None:
    ep = EntryPoint("main", "echo {x}", {"x": Parameter("x")})
    with pytest.raises(InvalidParameter, match="'x' contains a NUL"):
        render(ep, {"x": "a\0b"})


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("echo `echo {x}`", "backquotes"),
        ('echo "`echo {x}`"', "backquotes"),
        ("echo ${{HOME:-{x}}}", r"\$\{\.\.\.\}"),
        ("echo $(( {x} + 1 ))", "arithmetic"),
        ("(( {x} > 1 )) && echo big", "arithmetic"),
        ("echo $[{x}]", r"\$\[\.\.\.\]"),
        ("echo ${x}", "after '\\$'"),
        ('echo "${x}"', "after '\\$'"),
        ("echo \\{x}", "backslash"),
        ('echo "\\{x}"', "backslash"),
        ("cat <<EOF\n{x}\nEOF", "here-document"),
        ('echo "$(case a in a) echo {x};; esac)"', "case statement"),
    ],
)
def test_places_no_quoting_can_protect_are_refused(template: str, reason: str) -> None:
    with pytest.raises(SpecError, match=f"placeholder {{x}} stands .*{reason}"):
        render_template(template, {"x": "v"}, label="components/a/MLproject")


@pytest.mark.parametrize("template", ["echo '{x}", 'echo "{x}', "echo $(echo {x}", "echo 'a"])
def test_a_template_left_open_is_refused(template: str) -> None:
    # an unterminated quote would swallow the appended --key 'value' and flip its quoting
    with pytest.raises(SpecError, match="ends inside an unterminated"):
        render_template(template, {"x": "v"}, {"k": ";touch canary;'"})


def test_extras_after_a_trailing_comment_are_refused() -> None:
    with pytest.raises(SpecError, match=r"ends in a # comment.*k"):
        render_template("python run.py  # {x}", {"x": "v"}, {"k": "1"})
    assert render_template("python run.py # {x}", {"x": "a\nb"}) == "python run.py # a b"


@pytest.mark.parametrize(
    "template",
    [
        "python run.py --input_artifact {x} --min_price {x}",
        "python main.py main.steps=\\'{x}\\' $(echo {x})",
        "pytest . -vv --csv {x} --min_price {x}",
        "python run.py {x} \\\n  --random_seed {x}",
        "echo a#{x} $#",
        "echo <<<{x}",
    ],
)
@pytest.mark.parametrize("value", ["all", "a b", "it's", "x=1 y=2", ""])
def test_bare_placeholders_render_exactly_as_mlflow(template: str, value: str) -> None:
    """MLflow: `command.format(**{k: shlex.quote(v)})`; stepline must give the same string."""
    assert render_template(template, {"x": value}) == template.format(x=shlex.quote(value))


def test_a_component_run_gets_the_hostile_value_and_nothing_else_runs(
    store: Path, tmp_path: Path
) -> None:
    """Through prepare/execute, as `stepline.projects.run` and pipelines run a component."""
    from stepline.components import execute, prepare

    component = tmp_path / "echoer"
    component.mkdir()
    (component / "MLproject").write_text(
        "name: echoer\n"
        "entry_points:\n"
        "  main:\n"
        "    parameters: {a: str, b: str}\n"
        "    command: >-\n"
        "      printf '%s\\0' \"{a}\" '{b}' > received.bin\n"
    )
    canary = tmp_path / "canary"
    a = f'"; touch {canary}; echo "'
    b = f"'; touch {canary}; echo '"
    extra = f"$(touch {canary})"
    step = prepare(
        component, parameters={"a": a, "b": b, "c": extra}, env_manager="local", cwd=tmp_path
    )
    result = execute(step)
    assert result.status == "finished", result.stderr_tail
    assert (component / "received.bin").read_bytes().split(b"\0")[:-1] == [
        a.encode(),
        b.encode(),
        b"--c",
        extra.encode(),
    ]
    assert not canary.exists()


def test_a_declared_parameter_name_outside_the_pattern_names_file_and_key(tmp_path: Path) -> None:
    from stepline.components.mlproject import load_project

    (tmp_path / "MLproject").write_text(
        "name: c\nentry_points:\n  main:\n    parameters:\n      'a b': str\n    command: echo\n"
    )
    with pytest.raises(SpecError, match=r"parameter name 'a b' is not allowed") as err:
        load_project(tmp_path)
    assert str(tmp_path / "MLproject") in str(err.value)
    assert "entry_points.main.parameters" in str(err.value) or "line" in str(err.value)
