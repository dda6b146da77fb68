"""Every page renders and has a JSON twin with the same data; errors have one shape."""

from __future__ import annotations

from typing import Any

import pytest
from tests.ui.conftest import DemoStore
from tests.ui.demo_store import PROJECT

P = f"/projects/{PROJECT}"


def urls(demo: DemoStore) -> list[tuple[str, str]]:
    d = demo.demo
    runs = ",".join(d.train_runs[:3])
    return [
        ("/", "rental_prices"),
        (P, "sweep-1"),
        (f"{P}/runs?filter=job_type=train&sort=-summary.r2&group_by=group", "sweep-1"),
        (f"{P}/runs/{d.spike_run}", "loss"),
        (f"{P}/runs/{d.eda_run}", "top_neighbourhoods"),
        (f"{P}/compare?runs={runs}", "max_depth"),
        (f"{P}/artifacts", "clean_sample.csv"),
        (f"{P}/artifacts/clean_sample.csv", "notes.txt"),
        (f"{P}/artifacts/clean_sample.csv/diff?old=v0&new=v1", "Greenpoint"),
        (f"{P}/lineage?ref=clean_sample.csv:v1", "graph-data"),
        (f"{P}/pipelines", "Pipeline executions"),
        ("/registry", d.model),
        (f"/registry/{d.model}", "staging"),
    ]


def _twin(url: str) -> str:
    path, _, query = url.partition("?")
    return path.rstrip("/") + ".json" + (f"?{query}" if query else "")


def test_every_page_renders_and_has_a_json_twin(client: Any, demo: DemoStore) -> None:
    for url, text in urls(demo):
        html = client.get(url)
        assert html.status_code == 200, (url, html.text[:500])
        assert html.headers["content-type"].startswith("text/html")
        assert text in html.text, (url, text)
        twin = client.get(_twin(url))
        assert twin.status_code == 200, (url, twin.text[:500])
        assert twin.headers["content-type"] == "application/json"
        accept = client.get(url, headers={"accept": "application/json"})
        assert accept.json() == twin.json() or url.startswith(f"{P}/runs/"), url


def test_runs_twin_is_what_the_table_shows(client: Any, demo: DemoStore) -> None:
    data = client.get(f"{P}/runs.json?filter=job_type=train&sort=-summary.r2").json()
    assert data["total"] == len(demo.demo.train_runs)
    r2 = [r["values"]["summary.r2"] for r in data["runs"]]
    assert r2 == sorted(r2, reverse=True)
    html = client.get(f"{P}/runs?filter=job_type=train&sort=-summary.r2").text
    for row in data["runs"]:
        assert row["id"] in html


def test_run_twin_has_config_summary_io_and_metrics(client: Any, demo: DemoStore) -> None:
    data = client.get(f"{P}/runs/{demo.demo.spike_run}.json").json()
    assert set(data["config"]) == {"max_depth", "n_estimators", "lr"}
    assert "r2" in data["summary"]
    assert data["metrics"] == ["loss", "val_mae"]
    assert [v["name"] for v in data["inputs"]] == ["clean_sample.csv"]
    assert [v["name"] for v in data["outputs"]] == ["random_forest_export"]
    eda = client.get(f"{P}/runs/{demo.demo.eda_run}.json").json()
    kinds = sorted(m["_type"] for m in eda["media"])
    assert kinds == ["image-file", "table-file"]
    assert "6 rows" in eda["logs"]["stdout"]["text"]
    image = next(m for m in eda["media"] if m["_type"] == "image-file")
    png = client.get(f"{P}/runs/{demo.demo.eda_run}/media/{image['digest']}")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_chart_data_is_downsampled_and_keeps_the_spike(client: Any, demo: DemoStore) -> None:
    from tests.ui.demo_store import SPIKE_STEP, SPIKE_VALUE

    data = client.get(f"{P}/chart?key=loss&runs={demo.demo.spike_run}&points=200").json()
    s = data["series"][0]
    assert s["total"] == 2000 and s["sent"] <= 200
    assert max(s["values"]) == SPIKE_VALUE
    assert s["steps"][s["values"].index(SPIKE_VALUE)] == SPIKE_STEP
    zoom = client.get(f"{P}/chart?key=loss&runs={demo.demo.spike_run}&lo=1000&hi=1100").json()
    zs = zoom["series"][0]
    assert zs["steps"] == list(range(1000, 1101))  # 101 points: all of them, none dropped


def test_compare_shows_only_differences_by_default(client: Any, demo: DemoStore) -> None:
    ids = ",".join(demo.demo.train_runs[:2])  # same n_estimators, different max_depth
    diff = client.get(f"{P}/compare.json?runs={ids}").json()
    keys = [r["key"] for r in diff["config"]]
    assert "max_depth" in keys and "n_estimators" not in keys
    everything = client.get(f"{P}/compare.json?runs={ids}&all=true").json()
    assert "n_estimators" in [r["key"] for r in everything["config"]]
    assert everything["parallel"]["axes"][:3] == [
        "config.lr",
        "config.max_depth",
        "config.n_estimators",
    ]


def test_artifact_twin_lists_versions_files_and_runs(client: Any, demo: DemoStore) -> None:
    data = client.get(f"{P}/artifacts/clean_sample.csv.json?version=v0").json()
    assert [v["version"] for v in data["versions"]] == ["v1", "v0"]
    assert data["version"]["aliases"] == ["reference"]
    assert [f["path"] for f in data["files"]] == ["clean_sample.csv", "notes.txt"]
    assert [r["id"] for r in data["produced_by"]] == [demo.demo.clean_runs[0]]
    zipped = client.get(f"{P}/artifacts/clean_sample.csv/download/v0")
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"


def test_diff_twin_has_files_schema_and_rows(client: Any) -> None:
    data = client.get(f"{P}/artifacts/clean_sample.csv/diff.json?old=v0&new=v1").json()
    by_path = {f["path"]: f for f in data["files"]}
    assert set(by_path) == {"clean_sample.csv", "notes.txt"}
    table = by_path["clean_sample.csv"]["table"]
    assert table["schema"]["added"] == ["reviews"]
    assert (table["rows_old"], table["rows_new"]) == (6, 6)
    assert table["key"] == "id"
    assert table["added"][0]["neighbourhood"] == "Greenpoint"
    assert table["removed"][0]["neighbourhood"] == "Bushwick"
    changed = {c["key"]: c["cells"] for c in table["changed"]}
    assert changed["5"] == [{"column": "price", "old": "310", "new": "299"}]
    assert "+reviews column added" in by_path["notes.txt"]["text_diff"]
    assert data["metadata"] == [{"key": "min_price", "old": 10, "new": 15}]


def test_lineage_clusters_siblings_and_expands_them(client: Any, demo: DemoStore) -> None:
    data = client.get(f"{P}/lineage.json?ref=clean_sample.csv:v1&depth=2").json()
    clusters = [n for n in data["nodes"] if n["kind"] == "cluster"]
    # 8 train runs that used v1 → one node; their 8 model versions → another
    assert sorted((c["of"], c["count"]) for c in clusters) == [("artifact", 8), ("run", 8)]
    runs = next(c for c in clusters if c["of"] == "run")
    assert sorted(m[2:] for m in runs["members"]) == sorted(demo.demo.train_runs)
    opened = client.get(
        f"{P}/lineage.json", params={"ref": "clean_sample.csv:v1", "expand": runs["id"]}
    ).json()
    ids = {n["id"] for n in opened["nodes"]}
    assert {f"r:{r}" for r in demo.demo.train_runs} <= ids
    assert all("x" in n and "y" in n for n in opened["nodes"])  # laid out on the server
    root = next(n for n in data["nodes"] if n["id"] == data["root"])
    ups = [n for n in data["nodes"] if n["x"] < root["x"]]
    assert {n["label"] for n in ups} >= {"raw_data.csv:v0"}


def test_registry_promote_moves_an_alias(client: Any, demo: DemoStore) -> None:
    name = demo.demo.model
    r = client.post(
        f"/registry/{name}/aliases", data={"version": "2", "alias": "prod"}, follow_redirects=False
    )
    assert r.status_code == 303
    versions = {
        v["version"]: v["aliases"] for v in client.get(f"/registry/{name}.json").json()["versions"]
    }
    assert "prod" in versions["v2"] and "prod" not in versions["v1"]
    bad = client.post(f"/registry/{name}.json", data={"version": "9", "alias": "prod"})
    assert bad.status_code in (404, 405)
    missing = client.post(f"/registry/{name}/aliases.json", data={"version": "9", "alias": "prod"})
    assert missing.status_code == 404
    assert "no version v9" in missing.json()["error"]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/projects/nope.json", 404, "project_not_found"),
        (f"{P}/runs.json?filter=summary.r2~1", 400, "usage"),
        (f"{P}/runs.json?group_by=colour", 400, "usage"),
        (f"{P}/runs/zzzzzzzz.json", 404, "run_not_found"),
        (f"{P}/lineage.json?ref=v:abc", 400, "usage"),
        (f"{P}/lineage.json?ref=v:999999", 404, "version_not_found"),
        (f"{P}/artifacts/nope.json", 404, "artifact_not_found"),
        ("/no/such/page.json", 404, "not_found"),
    ],
)
def test_errors_have_one_shape(client: Any, url: str, status: int, code: str) -> None:
    r = client.get(url)
    assert r.status_code == status
    body = r.json()
    assert body["ok"] is False and body["status"] == status and body["code"] == code
    assert body["error"]
    html = client.get(url.replace(".json", ""))
    assert html.status_code == status and body["error"].split(";")[0][:30] in html.text.replace(
        "&#39;", "'"
    )
