"""`stepline component new`: a component written the way the course teaches.

    scaffold("src/basic_cleaning", "basic_cleaning",
             [parse_param_spec("input_artifact:str"), parse_param_spec("min_price:float=10")])

writes `MLproject`, `python_env.yaml` and `run.py` (argparse with help and types, logging with a
timestamped format, `stepline.init(job_type=...)`, use/log artifact).
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from stepline.components.mlproject import PARAM_TYPES
from stepline.errors import UsageError

_PARAM = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<type>\w+))?(?:=(?P<default>.*))?$")


@dataclass(frozen=True)
class ParamSpec:
    """`name:type[=default]` from the command line."""

    name: str
    type: str = "str"
    default: str | None = None


def parse_param_spec(text: str) -> ParamSpec:
    """Parse `name:type[=default]` (type defaults to str)."""
    match = _PARAM.match(text.strip())
    if not match:
        raise UsageError(f"cannot read --param {text!r}; write it as name:type[=default]")
    ptype = match.group("type") or "str"
    if ptype not in PARAM_TYPES:
        raise UsageError(
            f"--param {text!r}: unknown type {ptype!r}; valid: {', '.join(PARAM_TYPES)}"
        )
    return ParamSpec(name=match.group("name"), type=ptype, default=match.group("default"))


def _yaml_default(value: str, ptype: str) -> str:
    if ptype in ("float", "number", "int"):
        return value
    return "''" if value == "" else repr(value) if not value.isidentifier() else value


def render_mlproject(name: str, params: list[ParamSpec]) -> str:
    """The MLproject text."""
    lines = [f"name: {name}", "python_env: python_env.yaml", "", "entry_points:", "  main:"]
    lines.append("    parameters:")
    for p in params:
        lines += [
            "",
            f"      {p.name}:",
            f"        description: {p.name.replace('_', ' ').capitalize()}",
        ]
        lines.append(f"        type: {p.type}")
        if p.default is not None:
            lines.append(f"        default: {_yaml_default(p.default, p.type)}")
    if not params:
        lines[-1] = "    parameters: {}"
    flags = [f"--{p.name} {{{p.name}}}" for p in params]
    if len(flags) <= 1:
        lines += ["", f'    command: "{" ".join(["python run.py", *flags])}"']
    else:
        pad = " " * len("python run.py ")
        lines += ["", "    command: >-", f"      python run.py {flags[0]} \\"]
        lines += [f"      {pad}{flag} \\" for flag in flags[1:-1]]
        lines.append(f"      {pad}{flags[-1]}")
    return "\n".join(lines) + "\n"


def render_python_env() -> str:
    """python_env.yaml pinned to this interpreter's minor version."""
    major_minor = ".".join(platform.python_version().split(".")[:2])
    return f'python: "{major_minor}"\nbuild_dependencies:\n  - pip\ndependencies: []\n'


def _q(text: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(text)


_PY_TYPES = {"float": "float", "number": "float", "int": "int"}


def render_run_py(name: str, job_type: str, params: list[ParamSpec]) -> str:
    """run.py, course style."""
    names = {p.name for p in params}
    body: list[str] = [
        f"    run = stepline.init(job_type={_q(job_type)})",
        "    run.config.update(args)",
        "",
    ]
    if "input_artifact" in names:
        body += [
            "    # Download the input artifact; this also records that this run used that version",
            '    logger.info("Downloading artifact %s", args.input_artifact)',
            "    artifact_local_path = run.use_artifact(args.input_artifact).file()",
            "",
        ]
    body += [
        "    ######################",
        "    # YOUR CODE HERE     #",
        "    ######################",
        "",
    ]
    if "output_artifact" in names:
        out_type = "args.output_type" if "output_type" in names else repr("data")
        description = "args.output_description" if "output_description" in names else "None"
        body += [
            "    output_file = args.output_artifact",
            '    logger.info("Logging artifact %s", args.output_artifact)',
            "    artifact = stepline.Artifact(",
            "        args.output_artifact,",
            f"        type={out_type},",
            f"        description={description},",
            "    )",
            "    artifact.add_file(output_file)",
            "    run.log_artifact(artifact)",
        ]
    args: list[str] = []
    for p in params:
        py_type = _PY_TYPES.get(p.type, "str")
        help_text = p.name.replace("_", " ").capitalize()
        extra = f"default={_q(p.default)}" if p.default is not None else "required=True"
        if p.default is not None and py_type != "str":
            extra = f"default={p.default}"
        args += [
            "    parser.add_argument(",
            f'        "--{p.name}", type={py_type}, help={_q(help_text)}, {extra}',
            "    )",
        ]
    return "\n".join(
        [
            "#!/usr/bin/env python",
            f'"""{name}: one step of the pipeline."""',
            "import argparse",
            "import logging",
            "",
            "import stepline",
            "",
            'logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")',
            "logger = logging.getLogger()",
            "",
            "",
            "def go(args):",
            *body,
            "",
            "",
            'if __name__ == "__main__":',
            f"    parser = argparse.ArgumentParser(description={_q(name + ' step')})",
            *args,
            "    args = parser.parse_args()",
            "    go(args)",
            "",
        ]
    )


def scaffold(
    directory: str | Path, name: str, params: list[ParamSpec], job_type: str | None = None
) -> list[Path]:
    """Write the component files into `directory` (which must not hold an MLproject yet)."""
    root = Path(directory)
    if (root / "MLproject").exists():
        raise UsageError(f"{root / 'MLproject'} already exists; choose another directory")
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "MLproject": render_mlproject(name, params),
        "python_env.yaml": render_python_env(),
        "run.py": render_run_py(name, job_type or name, params),
    }
    written: list[Path] = []
    for file_name, text in files.items():
        path = root / file_name
        path.write_text(text)
        written.append(path)
    return written
