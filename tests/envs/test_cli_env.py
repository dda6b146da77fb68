import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def stepline_cli(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "STEPLINE_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", "from stepline.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_env_build_ls_dockerfile_prune(shared_cache: Path, tmp_path: Path) -> None:
    comp = tmp_path / "step"
    comp.mkdir()
    (comp / "python_env.yaml").write_text("dependencies:\n  - tomli==2.0.1\n")
    built = stepline_cli("env", "build", "step", "--json", cwd=tmp_path, cache=shared_cache)
    assert built.returncode == 0, built.stderr
    data = json.loads(built.stdout)
    assert data["manager"] == "uv" and Path(data["path"]).is_dir()
    again = stepline_cli("env", "build", "step", cwd=tmp_path, cache=shared_cache)
    assert again.returncode == 0 and again.stdout.startswith(f"reused env {data['digest'][:12]}")

    listed = json.loads(
        stepline_cli("env", "ls", "--json", cwd=tmp_path, cache=shared_cache).stdout
    )
    mine = [e for e in listed if e["digest"] == data["digest"]]
    assert mine and mine[0]["size"] > 0 and mine[0]["python"] == data["python"]
    assert any(e["role"] == "stepline-runtime" for e in listed)

    out = tmp_path / "docker"
    made = stepline_cli(
        "env", "dockerfile", "step", "-o", str(out), cwd=tmp_path, cache=shared_cache
    )
    assert made.returncode == 0, made.stderr
    assert "tomli==2.0.1" in (out / "stepline-lock-0.txt").read_text()
    assert (out / "Dockerfile").read_text().startswith("# Reproduces stepline env")

    dry = stepline_cli("env", "prune", "--unused-for", "30d", cwd=tmp_path, cache=shared_cache)
    assert dry.returncode == 0 and "removed 0 env(s)" in dry.stdout
    bad = stepline_cli("env", "prune", "--unused-for", "soon", cwd=tmp_path, cache=shared_cache)
    assert bad.returncode == 2 and "cannot read duration 'soon'" in bad.stderr
