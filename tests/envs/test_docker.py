import shutil
from pathlib import Path

import pytest

from stepline.envs.docker import check_engine, docker_argv
from stepline.envs.manager import activate, plan_env
from stepline.envs.ref import DockerEnv, EnvRef
from stepline.errors import EnvError


def test_docker_run_command_assembly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_TOKEN", "secret")
    spec = DockerEnv(
        image="python:3.12-slim",
        volumes=("/data:/data",),
        environment=("HOST_TOKEN", ("MODE", "fast")),
    )
    env = {"STEPLINE_RUN_ID": "abc12345", "WANDB_PROJECT": "p", "HOME": "/root"}
    argv = docker_argv(spec, tmp_path, "python run.py --x 1", env, store_dir=tmp_path / "store")
    assert argv[:3] == ["docker", "run", "--rm"]
    assert ["-v", f"{tmp_path}:/stepline/component"] == argv[3:5]
    assert argv[5:7] == ["-w", "/stepline/component"]
    joined = " ".join(argv)
    assert f"-v {tmp_path / 'store'}:{tmp_path / 'store'}" in joined
    assert "-e STEPLINE_RUN_ID=abc12345" in joined and "-e WANDB_PROJECT=p" in joined
    assert "HOME=" not in joined
    assert "-v /data:/data" in joined
    assert "-e HOST_TOKEN=secret" in joined and "-e MODE=fast" in joined
    assert argv[-4:] == ["python:3.12-slim", "bash", "-c", "python run.py --x 1"]


def test_copied_variable_must_be_set(tmp_path: Path) -> None:
    spec = DockerEnv(image="x", environment=("STEPLINE_TEST_UNSET_VAR",))
    with pytest.raises(EnvError, match="'STEPLINE_TEST_UNSET_VAR' from the host, but it is not"):
        docker_argv(spec, tmp_path, "true", {})


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_no_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(EnvError, match=r"docker client found but no engine at unix:///nonexistent"):
        check_engine(shutil.which("docker") or "docker")
    plan = plan_env(EnvRef("docker_env", docker=DockerEnv(image="python:3.12")))
    assert plan.manager == "docker" and plan.digest == "docker:python:3.12"
    with pytest.raises(EnvError, match="no engine"):
        activate(plan)
