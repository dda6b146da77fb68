from pathlib import Path

import pytest

import stepline
from stepline.errors import (
    Conflict,
    InvalidName,
    InvalidReference,
    PathEscape,
    UsageError,
    VersionNotFound,
)


def log_file(
    path: Path,
    text: str,
    name: str = "clean_sample.csv",
    aliases: list[str] | None = None,
    project: str = "nyc",
) -> stepline.Artifact:
    path.write_text(text)
    with stepline.init(project=project, job_type="basic_cleaning", reinit="create_new") as run:
        art = stepline.Artifact(
            name, type="clean_sample", description="d", metadata={"min_price": 10}
        )
        art.add_file(str(path))
        return run.log_artifact(art, aliases=aliases)


def test_versions_dedup_and_latest(tmp_path: Path) -> None:
    f = tmp_path / "clean_sample.csv"
    v0 = log_file(f, "a,b\n1,2\n", aliases=["reference"])
    assert v0.version == "v0" and v0.aliases == ["latest", "reference"]
    same = log_file(f, "a,b\n1,2\n")
    assert same.version == "v0"  # identical content: no new version
    v1 = log_file(f, "a,b\n1,3\n")
    assert v1.version == "v1" and v1.aliases == ["latest"]
    api = stepline.Api()
    assert api.artifact("nyc/clean_sample.csv:latest").version == "v1"
    assert api.artifact("clean_sample.csv:reference").version == "v0"
    back = log_file(f, "a,b\n1,2\n")  # equal to v0, not to latest: v0 again (W&B #11340)
    assert back.version == "v0" and back.aliases == ["latest", "reference"]
    assert [a.version for a in api.artifact_versions("nyc/clean_sample.csv")] == ["v0", "v1"]


def test_metadata_is_not_part_of_the_digest(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("1")
    with stepline.init(project="p") as run:
        a = stepline.Artifact("x", "data", metadata={"k": 1})
        a.add_file(f)
        run.log_artifact(a)
        b = stepline.Artifact("x", "data", metadata={"k": 2}, description="other")
        b.add_file(f)
        assert run.log_artifact(b).version == "v0"


def test_use_artifact_file_download_and_lineage(tmp_path: Path) -> None:
    v0 = log_file(tmp_path / "clean_sample.csv", "a,b\n1,2\n")
    with stepline.init(project="nyc", job_type="data_split") as consumer:
        art = consumer.use_artifact("clean_sample.csv:latest")
        path = art.file()
        assert Path(path).read_text() == "a,b\n1,2\n"
        assert Path(path) == Path("artifacts/clean_sample.csv:v0/clean_sample.csv")
        assert art.metadata == {"min_price": 10}
        root = art.download(tmp_path / "elsewhere")
        assert (Path(root) / "clean_sample.csv").exists()
    assert art.logged_by().id == v0.logged_by().id
    assert [r.id for r in art.used_by()] == [consumer.id]
    assert [a.qualified_name for a in stepline.Api().run(consumer.id).used_artifacts()] == [
        "nyc/clean_sample.csv:v0"
    ]


def test_add_dir_new_file_and_download_tree(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}")
    (model / "sub" / "weights.bin").write_bytes(b"\x00" * 1000)
    with stepline.init(project="p") as run:
        art = stepline.Artifact("model_export", "model_export")
        art.add_dir(model)
        with art.new_file("notes/readme.txt") as fh:
            fh.write("hello")
        run.log_artifact(art)
    got = stepline.Api().artifact("model_export:v0")
    assert got.files() == ["MLmodel", "notes/readme.txt", "sub/weights.bin"]
    root = Path(got.download(tmp_path / "dl"))
    assert (root / "notes" / "readme.txt").read_text() == "hello"
    assert (root / "sub" / "weights.bin").stat().st_size == 1000
    with pytest.raises(UsageError, match="3 files"):
        got.file()


def test_errors_name_the_thing_and_what_is_valid(tmp_path: Path) -> None:
    log_file(tmp_path / "c.csv", "1", aliases=["reference"])
    log_file(tmp_path / "c.csv", "2")
    api = stepline.Api()
    with pytest.raises(VersionNotFound) as err:
        api.artifact("nyc/clean_sample.csv:prod")
    assert str(err.value) == (
        "artifact 'clean_sample.csv' has no alias 'prod'; aliases: latest (v1), reference (v0)"
    )
    with pytest.raises(VersionNotFound, match="versions: v0 to v1"):
        api.artifact("nyc/clean_sample.csv:v7")
    with pytest.raises(InvalidReference):
        api.artifact("a:b:c")
    with stepline.init(project="nyc") as run:
        other = stepline.Artifact("clean_sample.csv", type="model")
        (tmp_path / "m").write_text("m")
        other.add_file(tmp_path / "m")
        with pytest.raises(Conflict, match="already exists with type 'clean_sample'"):
            run.log_artifact(other)
        good = stepline.Artifact("x", "t")
        good.add_file(tmp_path / "m")
        with pytest.raises(InvalidName, match="':' and '/'"):
            run.log_artifact(good, aliases=["bad:alias"])
    with pytest.raises(InvalidName):
        stepline.Artifact("bad/name", "t")
    with pytest.raises(PathEscape):
        stepline.Artifact("x", "t").add_file(tmp_path / "m", name="../evil")


def test_aliases_move_and_remove(tmp_path: Path) -> None:
    log_file(tmp_path / "c.csv", "1")
    log_file(tmp_path / "c.csv", "2")
    backend = stepline.Api().backend
    backend.set_alias("nyc", "clean_sample.csv", 0, "prod")
    assert stepline.Api().artifact("clean_sample.csv:prod").version == "v0"
    backend.set_alias("nyc", "clean_sample.csv", 1, "prod")
    assert stepline.Api().artifact("clean_sample.csv:v0").aliases == []
    assert stepline.Api().artifact("clean_sample.csv:prod").version == "v1"
    backend.remove_alias("nyc", "clean_sample.csv", "prod")
    with pytest.raises(VersionNotFound):
        stepline.Api().artifact("clean_sample.csv:prod")


def test_cross_project_references(tmp_path: Path) -> None:
    log_file(tmp_path / "z.txt", "zen", name="zen_of_python", project="exercise_1")
    with stepline.init(project="exercise_2") as run:
        art = run.use_artifact("exercise_1/zen_of_python:v0")
        assert Path(art.file()).read_text() == "zen"


def test_file_reference_is_recorded_not_copied(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    data.write_text("x,y\n")
    with stepline.init(project="p") as run:
        art = stepline.Artifact("ref", "raw_data")
        art.add_reference(data.as_uri())
        run.log_artifact(art)
    got = stepline.Api().artifact("ref:v0")
    entry = got.get_entry("big.csv")
    assert entry.ref == data.as_uri()
    assert not stepline.Api().backend.objects.has(entry.digest)
    assert Path(got.file(tmp_path / "out")).read_text() == "x,y\n"
    with pytest.raises(UsageError, match="scheme"):
        stepline.Artifact("r", "t").add_reference("ftp://host/file")


def test_execution_scope_resolves_latest_to_own_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "d.csv"
    f.write_text("mine")
    with stepline.init(project="p", reinit="create_new") as run:
        run.set_info(execution="exec-a")
        a = stepline.Artifact("d.csv", "data")
        a.add_file(f)
        run.log_artifact(a)
    f.write_text("theirs")
    with stepline.init(project="p", reinit="create_new") as run:
        run.set_info(execution="exec-b")
        a = stepline.Artifact("d.csv", "data")
        a.add_file(f)
        run.log_artifact(a)
    assert stepline.Api().artifact("p/d.csv:latest").version == "v1"
    monkeypatch.setenv("STEPLINE_SCOPE", "exec-a")
    assert stepline.Api().artifact("p/d.csv:latest").version == "v0"
    monkeypatch.setenv("STEPLINE_SCOPE", "exec-unknown")
    assert stepline.Api().artifact("p/d.csv:latest").version == "v1"


def test_relogging_identical_content_links_the_run_and_cache_hits_keep_scope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "d.csv"
    f.write_text("same")
    with stepline.init(project="p", reinit="create_new") as first:
        first.set_info(execution="e1")
        a = stepline.Artifact("d.csv", "data")
        a.add_file(f)
        first.log_artifact(a)
    with stepline.init(project="p", reinit="create_new") as second:
        b = stepline.Artifact("d.csv", "data")
        b.add_file(f)
        assert second.log_artifact(b).version == "v0"
    assert [x.qualified_name for x in stepline.Api().run(second.id).logged_artifacts()] == [
        "p/d.csv:v0"
    ]
    assert stepline.Api().artifact("p/d.csv:v0").logged_by().id == first.id
    f.write_text("newer")
    with stepline.init(project="p", reinit="create_new") as other:
        other.set_info(execution="e2")
        c = stepline.Artifact("d.csv", "data")
        c.add_file(f)
        other.log_artifact(c)
    hit = stepline.init(project="p", reinit="create_new")
    hit.set_info(execution="e3")
    hit.mark_cached(first.id)
    run = stepline.Api().run(hit.id)
    assert run.state == "cached" and run.info["cached_from"] == first.id
    monkeypatch.setenv("STEPLINE_SCOPE", "e3")
    assert stepline.Api().artifact("p/d.csv:latest").version == "v0"
    graph = stepline.Api().lineage("p/d.csv:v0", direction="up")
    assert {f"run:{first.id}", f"run:{second.id}", f"run:{hit.id}"} <= set(graph.nodes)


def test_attaching_child_names_the_runners_run() -> None:
    import os
    import subprocess
    import sys

    parent = stepline.init(project="p", reinit="create_new")
    code = "import stepline; r = stepline.init(job_type='basic_cleaning'); r.log({'x': 1}); print(r.id)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **parent.child_env()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == parent.id
    run = stepline.Api().run(parent.id)
    assert run.job_type == "basic_cleaning" and run.state == "running"  # the parent owns the status
    parent.finish()


def test_api_set_alias(tmp_path: Path) -> None:
    log_file(tmp_path / "c.csv", "1")
    art = stepline.Api().set_alias("nyc/clean_sample.csv:v0", "prod")
    assert art.version == "v0" and "prod" in art.aliases
    with pytest.raises(UsageError, match="latest"):
        stepline.Api().set_alias("nyc/clean_sample.csv:v0", "latest")


def test_logging_a_b_a_returns_v0_again_and_says_it_is_unchanged(tmp_path: Path) -> None:
    import stepline

    made = []
    for text in ("A", "B", "A"):
        (tmp_path / "zen.txt").write_text(text)
        with stepline.init(project="exercise_1", reinit="create_new") as run:
            art = stepline.Artifact("zen_of_python", type="text_file")
            art.add_file(tmp_path / "zen.txt")
            assert art.new_version is None  # a draft
            logged = run.log_artifact(art)
            made.append((logged.version, logged.new_version))
    assert made == [("v0", True), ("v1", True), ("v0", False)]
    api = stepline.Api()
    assert api.artifact("exercise_1/zen_of_python:latest").version == "v0"
    assert api.artifact("exercise_1/zen_of_python:v1").aliases == []
    assert api.artifact("exercise_1/zen_of_python:latest").new_version is None
