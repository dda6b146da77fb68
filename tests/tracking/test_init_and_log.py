import argparse
import math
import re
from pathlib import Path

import pytest

import stepline
from stepline.errors import InvalidName, InvalidValue, UsageError


def test_init_makes_a_named_run_with_config_and_env_fallbacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "nyc_airbnb")
    monkeypatch.setenv("STEPLINE_RUN_GROUP", "dev")
    args = argparse.Namespace(min_price=10.0, input_artifact="sample.csv:latest")
    run = stepline.init(job_type="basic_cleaning", config=args, tags=["a"])
    assert re.fullmatch(r"[0-9a-z]{8}", run.id)
    assert re.fullmatch(r"[a-z]+-[a-z]+-1", run.name)
    assert (run.project, run.group, run.job_type) == ("nyc_airbnb", "dev", "basic_cleaning")
    assert run.config["min_price"] == 10.0
    assert stepline.init() is run  # a second init returns the active run
    assert stepline.run is run and stepline.config is run.config
    run.finish()
    second = stepline.init(project="nyc_airbnb")
    assert second.name.endswith("-2")
    second.finish()
    stored = stepline.Api().run(run.id)
    assert stored.state == "finished"
    assert stored.config == {"min_price": 10.0, "input_artifact": "sample.csv:latest"}
    assert stored.tags == ["a"] and stored.host and stored.python_version


def test_config_update_nested_and_bad_keys() -> None:
    with stepline.init(project="p") as run:
        run.config.update({"rf": {"n_estimators": 100, "max_depth": 15}})
        run.config["seed"] = 42
        assert run.config.rf == {"n_estimators": 100, "max_depth": 15}
        with pytest.raises(InvalidName, match=r"'a\.b'"):
            run.config.update({"a.b": 1})
    assert stepline.Api().run(run.id).config == {
        "rf": {"n_estimators": 100, "max_depth": 15},
        "seed": 42,
    }


def test_log_steps_commit_and_summary() -> None:
    with stepline.init(project="p") as run:
        run.log({"loss": 1.0})
        run.log({"acc": 0.5}, commit=False)
        run.log({"loss": 0.8})
        run.log({"loss": 0.5}, step=5)
        run.log({"acc": 0.9}, step=5)
        run.log({"loss": 0.1}, step=3)  # an earlier step: dropped
        run.log({"loss": 0.4}, step=6, commit=True)
        run.summary["best"] = 0.4
    history = stepline.Api().run(run.id).history()
    rows = [{k: v for k, v in r.items() if not k.startswith("_t")} for r in history]
    assert rows == [
        {"_step": 0, "loss": 1.0},
        {"_step": 1, "acc": 0.5, "loss": 0.8},
        {"_step": 5, "loss": 0.5, "acc": 0.9},
        {"_step": 6, "loss": 0.4},
    ]
    summary = stepline.Api().run(run.id).summary
    assert summary == {"loss": 0.4, "acc": 0.9, "best": 0.4}


def test_non_finite_metrics_are_refused() -> None:
    with stepline.init(project="p") as run:
        with pytest.raises(InvalidValue, match="'loss'"):
            run.log({"loss": math.nan})
        with pytest.raises(InvalidValue, match="'x'"):
            run.log({"x": float("inf")})


def test_context_manager_marks_failure() -> None:
    with pytest.raises(RuntimeError), stepline.init(project="p") as run:
        raise RuntimeError("boom")
    assert stepline.Api().run(run.id).state == "failed"


def test_module_level_log_needs_a_run() -> None:
    with pytest.raises(UsageError, match=r"stepline.init\(\)"):
        stepline.log({"a": 1})


def test_image_and_table_are_stored() -> None:
    np = pytest.importorskip("numpy")
    with stepline.init(project="p") as run:
        run.log(
            {
                "img": stepline.Image(np.zeros((4, 4, 3), dtype=np.uint8)),
                "tbl": stepline.Table(columns=["a", "b"], data=[[1, 2]]),
            }
        )
    row = stepline.Api().run(run.id).history()[0]
    assert row["img"]["_type"] == "image-file" and row["img"]["mime"] == "image/png"
    backend = stepline.Api().backend
    assert backend.objects.get_bytes(row["img"]["digest"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert b'"columns": ["a", "b"]' in backend.objects.get_bytes(row["tbl"]["digest"])


def test_matplotlib_figure_image() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [1, 2])
    assert stepline.Image(fig).png[:4] == b"\x89PNG"


def test_disabled_mode_records_nothing() -> None:
    run = stepline.init(project="p", mode="disabled", config={"a": 1})
    run.log({"x": 1})
    assert run.config["a"] == 1
    run.finish()
    assert stepline.Api().runs() == []


def test_resume_by_id_continues_steps() -> None:
    run = stepline.init(project="p", id="myrun01")
    run.log({"x": 1})
    run.finish()
    again = stepline.init(project="p", id="myrun01", resume="allow")
    again.log({"x": 2})
    again.finish()
    assert [r["_step"] for r in stepline.Api().run("myrun01").history()] == [0, 1]
    with pytest.raises(UsageError, match="resume='never'"):
        stepline.init(project="p", id="myrun01", resume="never")


def test_wandb_env_set_by_user_code_beats_inherited_stepline_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPLINE_PROJECT", "outer")
    monkeypatch.setenv("WANDB_PROJECT", "outer")
    with stepline.init() as run:
        assert run.project == "outer"
    monkeypatch.setenv("WANDB_PROJECT", "nyc_airbnb")  # what a course main.py does
    with stepline.init(reinit="create_new") as run:
        assert run.project == "nyc_airbnb"


def test_dir_places_run_files_not_the_store(tmp_path: Path, store: Path) -> None:
    with stepline.init(project="p", dir=tmp_path / "files") as run:
        assert Path(run.dir).is_relative_to(tmp_path / "files")
    assert stepline.Api().run(run.id).project == "p"  # recorded in the one store
    assert (store / "stepline.db").exists()
