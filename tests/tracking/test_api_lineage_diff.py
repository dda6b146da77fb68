from pathlib import Path

import pytest

import stepline
from stepline.errors import UsageError


def make_runs() -> list[str]:
    ids = []
    for i, (lr, mae) in enumerate([(0.1, 3.0), (0.01, 1.0), (0.001, 2.0)]):
        with stepline.init(
            project="p",
            group="sweep",
            job_type="train",
            reinit="create_new",
            config={"lr": lr, "model": {"depth": 10 + i}},
            tags=["t"] if i else [],
        ) as run:
            run.log({"mae": mae})
            ids.append(run.id)
    with stepline.init(project="p", job_type="eval", reinit="create_new") as run:
        ids.append(run.id)
    return ids


def test_runs_filter_and_order() -> None:
    ids = make_runs()
    api = stepline.Api()
    assert [r.id for r in api.runs("p", filters={"job_type": "train"}, order="summary.mae")] == [
        ids[1],
        ids[2],
        ids[0],
    ]
    assert [
        r.id for r in api.runs("p", filters={"summary.mae": {"$lt": 2.5}}, order="-summary.mae")
    ] == [ids[2], ids[1]]
    assert [
        r.id
        for r in api.runs("p", filters={"config.model.depth": {"$gte": 11}}, order="created_at")
    ] == ids[1:3]
    assert [r.id for r in api.runs("entity/p", filters={"config.lr": 0.1})] == [ids[0]]
    assert {r.id for r in api.runs("p", filters={"tags": "t"})} == {ids[1], ids[2]}
    assert {
        r.id for r in api.runs("p", filters={"$or": [{"job_type": "eval"}, {"config.lr": 0.1}]})
    } == {ids[0], ids[3]}
    assert len(api.runs("p", filters={"state": "finished", "group": "sweep"})) == 3
    with pytest.raises(UsageError, match="cannot filter on 'bogus'"):
        api.runs("p", filters={"bogus": 1})
    with pytest.raises(UsageError, match=r"\$nope"):
        api.runs("p", filters={"summary.mae": {"$nope": 1}})


def test_lineage_walks_up_and_down(tmp_path: Path) -> None:
    f = tmp_path / "raw.csv"
    f.write_text("1")
    with stepline.init(project="p", job_type="download", reinit="create_new") as r1:
        a = stepline.Artifact("raw.csv", "raw_data")
        a.add_file(f)
        r1.log_artifact(a)
    with stepline.init(project="p", job_type="clean", reinit="create_new") as r2:
        r2.use_artifact("raw.csv:latest")
        (tmp_path / "clean.csv").write_text("2")
        b = stepline.Artifact("clean.csv", "clean")
        b.add_file(tmp_path / "clean.csv")
        r2.log_artifact(b)
    with stepline.init(project="p", job_type="train", reinit="create_new") as r3:
        r3.use_artifact("clean.csv:latest")
    graph = stepline.Api().lineage("clean.csv:v0")
    assert graph.root == "artifact:p/clean.csv:v0"
    assert (f"run:{r2.id}", "artifact:p/clean.csv:v0") in graph.edges
    assert ("artifact:p/raw.csv:v0", f"run:{r2.id}") in graph.edges
    assert (f"run:{r1.id}", "artifact:p/raw.csv:v0") in graph.edges
    assert ("artifact:p/clean.csv:v0", f"run:{r3.id}") in graph.edges
    from stepline.tracking.lineage import to_dot, to_mermaid, to_tree

    up, down = to_tree(graph)
    assert any("download" in line for line in up) and any("train" in line for line in down)
    assert to_mermaid(graph).startswith("graph LR") and "->" in to_dot(graph)


def test_diff_runs_side_by_side() -> None:
    ids = make_runs()
    from stepline.tracking.diff import diff_runs

    api = stepline.Api()
    result = diff_runs(api.backend, api.run(ids[0]).record, api.run(ids[1]).record)
    changed = {r["key"]: (r["a"], r["b"]) for r in result["config"] if not r["same"]}
    assert changed == {"lr": (0.1, 0.01), "model.depth": (10, 11)}
    assert {r["key"]: (r["a"], r["b"]) for r in result["metrics"]}["mae"] == (3.0, 1.0)
