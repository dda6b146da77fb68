from pathlib import Path

import pytest

from stepline.envs.conda import conda_to_pip, python_request
from stepline.envs.spec import load_spec
from stepline.errors import EnvError, SpecError


@pytest.mark.parametrize(
    ("conda", "pip"),
    [
        ("pandas=2.3.2", "pandas==2.3.2.*"),
        ("pandas==2.3.2", "pandas==2.3.2"),
        ("ipywidgets 8.1.7", "ipywidgets==8.1.7.*"),
        ("pyyaml", "pyyaml"),
        ("numpy>=1.24", "numpy>=1.24"),
        ("numpy 1.26 py311_0", "numpy==1.26.*"),
        ("conda-forge::scipy=1.16", "scipy==1.16.*"),
        ("pytorch=2.8", "torch==2.8.*"),
        ("numpy=1.2*", "numpy==1.2.*"),
        ("pip=24.3.1", None),
    ],
)
def test_conda_to_pip(conda: str, pip: str | None) -> None:
    assert conda_to_pip(conda, "f:1") == pip


def test_python_request() -> None:
    assert python_request("python=3.13") == "3.13"
    assert python_request("python 3.13.0") == "3.13.0"
    assert python_request("python==3.12.*") == "3.12"
    assert python_request("pandas=1") is None


def test_conda_yml_course_shape(tmp_path: Path) -> None:
    comp = tmp_path / "components" / "get_data"
    comp.mkdir(parents=True)
    (comp / "conda.yml").write_text(
        """name: download_data
channels:
  - conda-forge
  - defaults
dependencies:
  - python=3.13.0
  - pip=24.3.1
  - requests=2.31.0
  - pip:
      - mlflow==3.3.2
      - wandb==0.21.3
      - -e ..
"""
    )
    spec = load_spec(comp / "conda.yml")
    assert spec.kind == "conda" and spec.python == "3.13.0"
    assert spec.layers == (
        ("requests==2.31.0.*", "setuptools<82"),
        ("mlflow==3.3.2", f"-e {tmp_path / 'components'}"),
    )
    assert spec.wants_wandb
    kept = load_spec(comp / "conda.yml", real_wandb=True)
    assert "wandb==0.21.3" in kept.layers[1]


def test_course_starter_bug_wandb_single_equals_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "conda.yml").write_text("dependencies:\n  - pip:\n    - wandb=0.21.3\n")
    spec = load_spec(tmp_path / "conda.yml")
    assert spec.wants_wandb and spec.layers == (("setuptools<82",),)  # a pip section: pip's


@pytest.mark.parametrize(
    ("dep", "line", "needle"),
    [
        ("  - gcc=12\n", 3, "no PyPI equivalent"),
        ("  - libstdcxx-ng\n", 3, "no PyPI equivalent"),
    ],
)
def test_conda_errors_name_the_line(tmp_path: Path, dep: str, line: int, needle: str) -> None:
    (tmp_path / "conda.yml").write_text("dependencies:\n  - six\n" + dep)
    with pytest.raises(EnvError) as err:
        load_spec(tmp_path / "conda.yml")
    assert f"{tmp_path / 'conda.yml'}:{line}:" in str(err.value)
    assert needle in str(err.value)


def test_python_env_with_requirements(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six==1.16.0  # pinned\n-e ./lib\n")
    (tmp_path / "python_env.yaml").write_text(
        'python: "3.12"\nbuild_dependencies:\n  - pip\n  - setuptools\n'
        "dependencies:\n  - -r requirements.txt\n  - tomli\n"
    )
    spec = load_spec(tmp_path)
    assert spec.kind == "python_env" and spec.python == "3.12"
    assert spec.layers == (("setuptools", "six==1.16.0", f"-e {tmp_path / 'lib'}", "tomli"),)


def test_pyproject_and_errors(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\ndependencies=["six", "wandb"]\n')
    spec = load_spec(tmp_path / "pyproject.toml")
    assert spec.layers == (("six",),) and spec.wants_wandb
    (tmp_path / "python_env.yaml").write_text("python: 3.12\ndeps: []\n")
    with pytest.raises(SpecError, match=r"python_env.yaml:2:1: deps: unknown key"):
        load_spec(tmp_path / "python_env.yaml")
    with pytest.raises(SpecError, match="no env spec found"):
        load_spec(
            tmp_path / "nothing-here" if False else tmp_path / "sub" if False else _empty(tmp_path)
        )


def _empty(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d
