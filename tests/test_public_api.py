"""The public API is pinned: `__all__` sorted, every name importable, W&B-shaped."""

import subprocess
import sys
from pathlib import Path

import stepline


def test_all_is_sorted_and_importable() -> None:
    assert stepline.__all__ == sorted(stepline.__all__)
    for name in stepline.__all__:
        assert hasattr(stepline, name), name


def test_import_is_light() -> None:
    probe = "import sys; {} print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'rich', 'click', 'typing', 'blake3')))"
    before = subprocess.run(
        [sys.executable, "-c", probe.format("")], capture_output=True, text=True, check=True
    ).stdout
    after = subprocess.run(
        [sys.executable, "-c", probe.format("import stepline;")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert after == before  # importing stepline loads none of its heavy dependencies


def test_a_run_that_stores_nothing_loads_no_hashing_json_or_logging(tmp_path: Path) -> None:
    """Every component step starts a run: its first `init` loads only what a run needs (BLAKE3
    with the first object stored, orjson with the first metric rows, logging never)."""
    code = (
        "import sys, stepline; stepline.init(project='p').finish()\n"
        "heavy = ('blake3', 'orjson', 'logging', 'sqlalchemy', 'shutil', 'uuid', 'socket')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "STEPLINE_DIR": str(tmp_path / ".stepline"),
        "STEPLINE_CACHE_DIR": str(tmp_path / "cache"),
    }
    first = [sys.executable, "-c", "import stepline; stepline.init(project='p').finish()"]
    subprocess.run(first, env=env, check=True, capture_output=True)  # the store exists
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_code_written_for_wandb_runs_with_the_import_changed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import stepline as wandb

    (tmp_path / "zen.txt").write_text("Beautiful is better than ugly.")
    with wandb.init(project="exercise_1", group="experiment_1") as run:
        artifact = wandb.Artifact(
            name="zen_of_python",
            type="text_file",
            description="zen",
            metadata={"original_url": "https://peps.python.org/pep-0020/"},
        )
        artifact.add_file(str(tmp_path / "zen.txt"))
        run.log_artifact(artifact)
        artifact.wait()
        run.summary["lines"] = 1
    with wandb.init(project="exercise_1", job_type="use_file") as run:
        path = run.use_artifact("zen_of_python:v0").file()
        assert Path(path).read_text().startswith("Beautiful")
        wandb.config.update({"a": 1})
        wandb.log({"x": 1})
