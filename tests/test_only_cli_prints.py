"""Only `cli/` prints: library code returns values or raises, and the CLI shows them.

The import layers are checked by `lint-imports` in .ci/run (contracts in pyproject.toml); it
cannot see calls, so this test walks every module's syntax tree for the calls that write to the
process's terminal: `print(...)`, `<console>.print(...)` (rich), `sys.stdout.write(...)`,
`sys.stderr.write(...)` and `os.write(1 or 2, ...)`.

Not flagged, by construction: text that only mentions such a call (docstrings, examples) and
programs held as strings that print in another interpreter: the component templates of
`components/scaffold.py` and the interpreter probe of `compat/install.py`. The UI's HTML
templates are not Python. The step server and the `mlflow.run` hook need no exception: the
server's fork rebinds its stdout to the caller's (an assignment, not a write), the hook only
flushes, and the step's output is printed by `cli/mlflow_step.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import stepline

PACKAGE = Path(stepline.__file__).parent

#: where printing is the point, with the reason (paths relative to the package folder)
ALLOWED = {
    "cli": "the command line: it prints results, tables, progress and one line per error",
}


def terminal_writes(source: str) -> list[tuple[int, str]]:
    """(line, call) for each call in `source` that writes to this process's stdout or stderr."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        call = ast.unparse(node.func)
        writes = (
            call == "print"
            or (call.endswith(".print") and "console" in call.lower())
            or call in ("sys.stdout.write", "sys.stderr.write")
            or call in ("sys.__stdout__.write", "sys.__stderr__.write")
            or (
                call == "os.write"
                and bool(node.args)
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in (1, 2)
            )
        )
        if writes:
            found.append((node.lineno, call))
    return found


def offenders(package: Path) -> list[str]:
    out = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if any(rel == where or rel.startswith(where + "/") for where in ALLOWED):
            continue
        for line, call in terminal_writes(path.read_text(encoding="utf-8")):
            out.append(f"{rel}:{line}: {call}(...)")
    return out


def test_nothing_outside_the_allowed_places_writes_to_the_terminal() -> None:
    assert offenders(PACKAGE) == [], (
        "library code returns values or raises; let cli/ print them (or add the module to"
        " ALLOWED with the reason it must write to its own process's output)"
    )


def test_every_allowed_place_exists() -> None:
    assert [where for where in ALLOWED if not (PACKAGE / where).exists()] == []


def test_the_check_finds_each_kind_of_write(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "cli").mkdir(parents=True)
    (package / "cli" / "show.py").write_text("print('fine here')\n")
    (package / "lib.py").write_text(
        '"""print("only a mention")."""\n'
        "import os, sys\n"
        "from rich.console import Console\n"
        "console = Console()\n"
        "PROGRAM = 'print(1)'\n"
        "print('a')\n"
        "console.print('b')\n"
        "sys.stdout.write('c')\n"
        "sys.stderr.write('d')\n"
        "os.write(2, b'e')\n"
        "os.write(7, b'a pipe')\n"
        "logger_print = print\n"
    )
    assert offenders(package) == [
        "lib.py:6: print(...)",
        "lib.py:7: console.print(...)",
        "lib.py:8: sys.stdout.write(...)",
        "lib.py:9: sys.stderr.write(...)",
        "lib.py:10: os.write(...)",
    ]
