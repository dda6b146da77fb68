"""`stepline serve` / `predict` load a package in the env it was saved with.

The package is saved in a real uv env with an older scikit-learn (1.5.2) than stepline's dev
env; loading it in stepline's interpreter makes scikit-learn warn that the estimators come from
another version (what breaks outright for other models), loading it in its own env does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from stepline.models.serving import free_port

OLD_PINS = "scikit-learn==1.5.2\nnumpy==1.26.4\npandas==2.2.3\nscipy==1.13.1\nskops==0.10.0\n"
SAVE = """
import sys, json
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import sklearn, stepline.models as m
X = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [0.5, 0.1, 0.3, 0.9, 0.2, 0.4]})
pipe = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=5, random_state=0))
pipe.fit(X, [1.0, 2, 3, 4, 5, 6])
m.save(pipe, sys.argv[1], input_example=X.iloc[:2])
print(json.dumps({"sklearn": sklearn.__version__, "pred": pipe.predict(X).tolist()}))
"""
WARNING = "InconsistentVersionWarning"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-env-cache")


@pytest.fixture(scope="module")
def old_package(
    tmp_path_factory: pytest.TempPathFactory, cache: Path
) -> Iterator[tuple[Path, list[float]]]:
    """A package saved under scikit-learn 1.5.2, in a real uv env, and its predictions."""
    from stepline.envs.manager import activate, plan_env
    from stepline.envs.ref import EnvRef

    root = tmp_path_factory.mktemp("old-model")
    (root / "requirements.txt").write_text(OLD_PINS)
    (root / "save.py").write_text(SAVE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_CACHE_DIR", str(cache))
        active = activate(plan_env(EnvRef("python_env", root / "requirements.txt"), "uv"))
    proc = subprocess.run(
        active.argv(f"python save.py {root / 'pkg'}"),
        env=active.env,
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["sklearn"] == "1.5.2"
    import sklearn

    assert sklearn.__version__ != "1.5.2"  # the point: stepline runs another version
    yield root / "pkg", out["pred"]


def _cli_env(cache: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "STEPLINE_CACHE_DIR": str(cache),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from stepline.cli import main; main()", *args]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [0.5, 0.1, 0.3, 0.9, 0.2, 0.4]})


def test_predict_uses_the_package_env_and_local_opts_out(
    tmp_path: Path, cache: Path, old_package: tuple[Path, list[float]]
) -> None:
    package, expected = old_package
    _frame().to_csv(tmp_path / "in.csv", index=False)
    local = subprocess.run(
        _cli("predict", str(package), "in.csv", "-o", "local.csv", "--env-manager", "local"),
        cwd=tmp_path,
        env=_cli_env(cache),
        capture_output=True,
        text=True,
    )
    assert local.returncode == 0, local.stderr
    assert WARNING in local.stderr  # loaded under stepline's scikit-learn: the reported bug
    own = subprocess.run(
        _cli("predict", str(package), "in.csv", "-o", "own.csv", "--json"),
        cwd=tmp_path,
        env=_cli_env(cache),
        capture_output=True,
        text=True,
    )
    assert own.returncode == 0, own.stderr
    assert WARNING not in own.stderr
    assert "in its own env" in own.stderr
    assert json.loads(own.stdout.strip().splitlines()[-1])["rows"] == 6
    assert pd.read_csv(tmp_path / "own.csv")["prediction"].tolist() == pytest.approx(expected)


def test_serve_runs_the_scoring_server_in_the_package_env(
    tmp_path: Path, cache: Path, old_package: tuple[Path, list[float]]
) -> None:
    package, expected = old_package
    port = free_port()
    server = subprocess.Popen(
        _cli("serve", str(package), "--port", str(port), "--log-level", "warning"),
        cwd=tmp_path,
        env=_cli_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300  # the first call builds the env
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        frame = _frame()
        body = {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}
        res = httpx.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=30)
        assert res.status_code == 200, res.text
        assert res.json()["predictions"] == pytest.approx(expected)
        # the serving process is the package env's interpreter, which has scikit-learn 1.5.2
        exe = Path(os.readlink(f"/proc/{server.pid}/exe"))
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        version = subprocess.run(
            [cmdline, "-c", "import sklearn; print(sklearn.__version__)"],
            capture_output=True,
            text=True,
        )
        assert version.stdout.strip() == "1.5.2", (exe, cmdline, version.stderr)
        assert str(cache) in cmdline
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert WARNING not in err
