"""conda.yml → pip requirement lines, the way conda + pip would install it.

    dependencies:
      - python=3.13          → the interpreter request "3.13"
      - pandas=2.3.2         → pandas==2.3.2.*   (conda's `=` is a prefix match)
      - requests==2.31.0     → requests==2.31.0
      - ipywidgets 8.1.7     → ipywidgets==8.1.7.*
      - pyyaml               → pyyaml
      - pip=24.3.1           (uv installs; a setuptools that ships pkg_resources is added)
      - git                  (a tool of this machine: skipped, with a note)
      - pip:                 → a second layer, paths resolved against the file's folder
          - -e ..
          - git+https://…    → installed by uv, or read from a checkout (see `envs/urls.py`)

`channels` and `name` are ignored. Conda packages that are tools a machine provides
(`MACHINE_TOOLS`: git, curl, make, …) are skipped when the tool is on PATH, with a note in
the build log. A spec with `pip` gets `setuptools<82` (the last series that ships
`pkg_resources`, which code such as mlflow 2.x imports), as conda's pip brings setuptools,
unless the spec names setuptools itself. Other conda packages with no PyPI equivalent
(compilers, C libraries) are an EnvError naming the line.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import EnvError, SpecError
from stepline.formats.yaml import YamlDoc

# conda name → PyPI name, where they differ
RENAMED = {
    "pytorch": "torch",
    "py-xgboost": "xgboost",
    "matplotlib-base": "matplotlib",
    "pytables": "tables",
    "tensorflow-base": "tensorflow",
    "pytorch-cpu": "torch",
    "msgpack-python": "msgpack",
    "python-graphviz": "graphviz",
    "py-opencv": "opencv-python",
}
# conda packages that are command-line tools a machine provides: conda package → executable
MACHINE_TOOLS = {
    "git": "git",
    "git-lfs": "git-lfs",
    "curl": "curl",
    "wget": "wget",
    "make": "make",
    "unzip": "unzip",
    "openssh": "ssh",
}
# what a conda env with pip has, and uv envs lack: setuptools with pkg_resources (82 drops it)
PIP_SETUPTOOLS = "setuptools<82"
# conda packages that are system software, not Python distributions on PyPI
NOT_ON_PYPI = frozenset(
    {
        "r-base",
        "nodejs",
        "cudatoolkit",
        "cudnn",
        "mkl",
        "openssl",
        "libgcc-ng",
        "libstdcxx-ng",
        "gcc",
        "gxx",
        "compilers",
        "ca-certificates",
        "openjdk",
        "sqlite",
        "zlib",
        "xz",
        "libffi",
        "ncurses",
        "readline",
        "tk",
        "graphviz",
        "pandoc",
        "ffmpeg",
    }
)
IGNORED = frozenset({"pip", "python"})
_SPEC = re.compile(
    r"^(?:(?P<channel>[\w.-]+)::)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*"
    r"(?P<rest>.*)$"
)


@dataclass
class CondaTranslation:
    """Requirement lines per layer, each with the `file:line` it came from."""

    python: str | None = None
    conda: list[tuple[str, str]] = field(default_factory=list)
    pip: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    has_pip: bool = False


def conda_to_pip(spec: str, where: str) -> str | None:
    """One conda match spec → one pip requirement (None for pip/python, which are not packages)."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise EnvError(
            f"{where}: cannot read conda spec {spec!r}; write it as name, name=1.2 or name 1.2"
        )
    name, rest = match.group("name").lower(), match.group("rest").strip()
    if name in IGNORED:
        return None
    if name in MACHINE_TOOLS:
        tool = MACHINE_TOOLS[name]
        if shutil.which(tool) is None:
            raise EnvError(
                f"{where}: conda package '{name}' is a tool stepline takes from this machine, "
                f"and `{tool}` is not on PATH; install it (e.g. apt-get install {name})"
            )
        return None
    if name in NOT_ON_PYPI or name.startswith("r-"):
        raise EnvError(
            f"{where}: conda package '{name}' has no PyPI equivalent, so this env cannot be built "
            "with uv; install it on the machine and drop the line, or put conda/mamba on PATH"
        )
    name = RENAMED.get(name, name)
    if not rest:
        return name
    if rest.startswith("=") and not rest.startswith("=="):
        version = rest[1:].split("=", 1)[0].strip()  # pkg=1.2=build_str: drop the build
        return f"{name}=={_prefix(version)}"
    if rest[0].isdigit():  # "pkg 1.2 [build]"
        version = rest.split()[0]
        return f"{name}=={_prefix(version)}"
    return f"{name}{rest.replace(' ', '')}"


def _prefix(version: str) -> str:
    version = version.rstrip("*").rstrip(".")
    return f"{version}.*"


def python_request(spec: str) -> str | None:
    """`python=3.13` / `python 3.13` / `python==3.13.0` → `3.13`/`3.13.0`; bare python → None."""
    match = _SPEC.match(spec.strip())
    if not match or match.group("name").lower() != "python":
        return None
    rest = match.group("rest").strip().lstrip("=").strip().rstrip("*").rstrip(".")
    return rest or None


def translate_conda(doc: YamlDoc) -> CondaTranslation:
    """Translate a loaded conda.yml (see the module docstring)."""
    from stepline.envs.spec import absolutize

    data: Any = doc.data or {}
    if not isinstance(data, dict):
        raise SpecError(f"{doc.where()}: a conda env file is a mapping with 'dependencies'")
    deps = data.get("dependencies") or []
    if not isinstance(deps, list):
        raise SpecError(f"{doc.where('dependencies')}: dependencies must be a list")
    out = CondaTranslation()
    base = doc.path.parent.resolve()
    for i, dep in enumerate(deps):
        where = f"{doc.path}:{doc.line('dependencies', i)}"
        if isinstance(dep, dict):
            pip = dep.get("pip")
            if set(dep) != {"pip"} or not isinstance(pip, list):
                raise SpecError(
                    f"{where}: the only mapping allowed in dependencies is 'pip: [...]'"
                )
            for j, line in enumerate(pip):
                loc = f"{doc.path}:{doc.line('dependencies', i, 'pip', j)}"
                out.pip.append((absolutize(str(line), base), loc))
            continue
        if not isinstance(dep, (str, int, float)):
            raise SpecError(f"{where}: a dependency is a string such as pandas=2.3.2")
        text = str(dep)
        request = python_request(text)
        if request is not None or text.strip().lower() == "python":
            out.python = request
            continue
        match = _SPEC.match(text.strip())
        name = match.group("name").lower() if match else ""
        out.has_pip = out.has_pip or name == "pip"
        line = conda_to_pip(text, where)
        if line is not None:
            out.conda.append((line, where))
        elif name in MACHINE_TOOLS:
            out.notes.append(
                f"{where}: conda package '{text}' skipped: `{MACHINE_TOOLS[name]}` is this "
                "machine's own"
            )
    _add_setuptools(out, doc)
    return out


def _add_setuptools(out: CondaTranslation, doc: YamlDoc) -> None:
    """Give a spec with pip the setuptools a conda env with pip has (module docstring)."""
    if not (out.has_pip or out.pip):
        return
    from stepline.envs.spec import requirement_name

    named = {requirement_name(line) for line, _ in (*out.conda, *out.pip)}
    if "setuptools" in named:
        return
    out.conda.append((PIP_SETUPTOOLS, f"{doc.path} (pip brings setuptools)"))
    out.notes.append(
        f"{doc.path}: added {PIP_SETUPTOOLS}, the setuptools with pkg_resources that a conda "
        "env with pip has"
    )
