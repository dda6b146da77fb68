from pathlib import Path

import pytest

from stepline.components.mlproject import UnknownEntryPoint, load_project
from stepline.errors import SpecError


def write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(text)
    return p


def test_full_format(tmp_path: Path) -> None:
    write(tmp_path, "conda.yml", "dependencies: [six]\n")
    write(
        tmp_path,
        "MLproject",
        """name: download_file
conda_env: conda.yml
entry_points:
  main:
    parameters:
      sample: string
      test_size: {type: float, default: 0.2, description: fraction}
      seed: {type: int, default: 42}
      data: path
      url: {type: uri}
      ratio: {type: number, default: 0.3}
      export: {type: str, default: null}
    command: python run.py {sample} --test_size {test_size}
  other:
    command: echo hi
""",
    )
    p = load_project(tmp_path)
    assert p.name == "download_file"
    assert p.env.kind == "conda_env" and p.env.file == (tmp_path / "conda.yml").resolve()
    main = p.entry_point("main")
    assert main.parameters["sample"].required and main.parameters["sample"].type == "string"
    assert main.parameters["test_size"].default == 0.2
    assert main.parameters["test_size"].description == "fraction"
    assert main.parameters["export"].required
    assert not main.parameters["ratio"].required
    assert p.entry_point("other").parameters == {}


def test_lowercase_filename_and_docker(tmp_path: Path) -> None:
    write(
        tmp_path,
        "mlproject",
        """name: d
docker_env:
  image: python:3.12
  volumes: ["/data:/data"]
  environment: [HOME, ["A", "1"]]
entry_points: {main: {command: "python -c pass"}}
""",
    )
    p = load_project(tmp_path)
    assert p.env.kind == "docker_env" and p.env.docker is not None
    assert p.env.docker.image == "python:3.12"
    assert p.env.docker.environment == ("HOME", ("A", "1"))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("conda_env: conda.yml\npython_env: python_env.yaml\n", ":2:1: python_env: both"),
        (
            "entry_points:\n  main:\n    parameters:\n      x: floaty\n    command: a\n",
            ":4:7: entry_points.main.parameters.x: unknown parameter type",
        ),
        ("entry_points:\n  main:\n    parameters: {}\n", "needs a command"),
        ("name: x\nentry_point: {}\n", "unknown key; valid keys"),
        ("docker_env: {image: x}\n", "needs a 'name'"),
        ("name: [a\n", "not valid YAML"),
        ("conda_env: missing.yml\n", "'missing.yml' not found"),
        (
            "entry_points:\n  main:\n    parameters:\n      x: {type: int, dflt: 1}\n"
            "    command: a\n",
            "unknown parameter key",
        ),
    ],
)
def test_bad_specs_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    write(tmp_path, "conda.yml", "dependencies: []\n")
    write(tmp_path, "python_env.yaml", "dependencies: []\n")
    write(tmp_path, "MLproject", text)
    with pytest.raises(SpecError) as err:
        load_project(tmp_path)
    assert str(tmp_path / "MLproject") in str(err.value)
    assert needle in str(err.value)


def test_unknown_type_lists_valid(tmp_path: Path) -> None:
    text = "entry_points:\n  main:\n    parameters: {x: bool}\n    command: a\n"
    write(tmp_path, "MLproject", text)
    with pytest.raises(SpecError, match=r"valid types: string, str, float, int, number, path, uri"):
        load_project(tmp_path)


def test_detection_order(tmp_path: Path) -> None:
    assert load_project(tmp_path).env.kind == "none"
    write(tmp_path, "conda.yml", "dependencies: []\n")
    assert load_project(tmp_path).env.kind == "conda_env"
    write(tmp_path, "python_env.yaml", "dependencies: []\n")
    assert load_project(tmp_path).env.kind == "python_env"
    assert load_project(tmp_path).name == tmp_path.name


def test_file_entry_points(tmp_path: Path) -> None:
    write(tmp_path, "go.py", "print(1)\n")
    write(tmp_path, "go.sh", "echo 1\n")
    p = load_project(tmp_path)
    assert p.entry_point("go.py").command == "python go.py"
    assert p.entry_point("go.sh").command == "bash go.sh"
    with pytest.raises(
        UnknownEntryPoint, match=r"no MLproject in .*-e script\.py \(here: go\.py\)"
    ):
        p.entry_point("main")
    with pytest.raises(UnknownEntryPoint, match="does not exist"):
        p.entry_point("nope.py")
