"""The UI in Debian's Chromium: pages load clean, tables filter/sort/page, charts, graph, diff, DAG.

Skipped, with the reason printed, where /usr/bin/chromium or playwright is missing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.ui.conftest import DemoStore, Page, Server
from tests.ui.demo_store import PROJECT, SPIKE_STEP, SPIKE_VALUE
from tests.ui.test_pages import urls

P = f"/projects/{PROJECT}"


def test_every_page_loads_without_console_errors(page: Page, demo: DemoStore) -> None:
    for url, text in urls(demo):
        pg = page.goto(url)
        assert text in pg.content(), url
        pg.wait_for_timeout(150)  # let the islands draw
        assert page.errors == [], (url, page.errors)


def _row_ids(pg: Any) -> list[str]:
    return pg.eval_on_selector_all(
        "#runs tbody tr[data-run]", "rows => rows.map(r => r.dataset.run)"
    )


def test_filter_sort_and_page_the_runs_table(page: Page, demo: DemoStore) -> None:
    pg = page.goto(P)
    assert len(_row_ids(pg)) == 11
    pg.fill("#filter", "job_type=train summary.r2>0.6")
    pg.press("#filter", "Enter")
    pg.wait_for_function("document.querySelector('#total').textContent.trim() !== '11'")
    expected = [
        r for r in demo.backend.find_runs(_q({"job_type": "train", "summary.r2": {"$gt": 0.6}}))
    ]
    assert sorted(_row_ids(pg)) == sorted(r.id for r in expected)
    assert "filter=job_type" in pg.url  # the filter is in the address, so it can be shared

    pg.click("#runs thead th[data-key='summary.r2'] a")  # first click: descending
    pg.wait_for_selector("#runs thead th.sorted[data-key='summary.r2']")
    r2 = [demo.backend.get_run(i).summary["r2"] for i in _row_ids(pg)]
    assert r2 == sorted(r2, reverse=True) and len(r2) == len(expected)
    pg.click("#runs thead th[data-key='summary.r2'] a")  # second: ascending
    pg.wait_for_function(
        "document.querySelector(\"#runs thead th.sorted .arrow\").textContent === '▲'"
    )
    r2 = [demo.backend.get_run(i).summary["r2"] for i in _row_ids(pg)]
    assert r2 == sorted(r2)

    pg = page.goto(f"{P}/runs?limit=4&sort=created_at")
    seen: list[str] = []
    for _ in range(10):
        ids = _row_ids(pg)
        assert len(ids) <= 4, pg.url
        seen += ids
        if not pg.query_selector("#next-page"):
            break
        first = ids[0]
        pg.click("#next-page")
        pg.wait_for_function(
            f"document.querySelector('#runs tbody tr[data-run]').dataset.run !== '{first}'"
        )
    everything = [r.id for r in demo.backend.find_runs(_q({}, order=("created_at",)))]
    assert sorted(seen) == sorted(everything) and len(seen) == 11
    assert page.errors == []


def _q(filters: dict[str, Any], order: tuple[str, ...] = ("-created_at",)) -> Any:
    from stepline.backends.base import RunQuery

    return RunQuery(project=PROJECT, filters=filters, order=order)


def test_columns_and_grouping(page: Page) -> None:
    pg = page.goto(P)
    pg.click(".columns-picker summary")
    # a column that is not shown by default, so the new header proves the table was replaced
    added = "input[name=columns][value='config.n_estimators']"
    assert not pg.is_checked(added)
    assert not pg.query_selector("#runs thead th[data-key='config.n_estimators']")
    pg.uncheck("input[name=columns][value='config.lr']")
    pg.check(added)
    pg.click(".picker-foot button")
    pg.wait_for_selector("#runs thead th[data-key='config.n_estimators']")
    assert not pg.query_selector("#runs thead th[data-key='config.lr']")
    pg.select_option("select[name=group_by]", "job_type")
    pg.wait_for_selector("tr.group-row")
    groups = pg.eval_on_selector_all("tr.group-row strong", "s => s.map(x => x.textContent)")
    assert groups == sorted(groups) and set(groups) == {"basic_cleaning", "eda", "train"}
    assert page.errors == []


def test_a_chart_draws_its_points_and_the_spike_survives(page: Page, demo: DemoStore) -> None:
    pg = page.goto(f"{P}/runs/{demo.demo.spike_run}")
    chart = pg.wait_for_selector(".chart[data-key='loss'][data-drawn]")
    assert chart.query_selector("canvas") is not None
    sent = int(chart.get_attribute("data-sent") or 0)
    assert 0 < sent <= 2000 and chart.get_attribute("data-total") == "2000"
    drawn = pg.evaluate(
        "() => { const el = document.querySelector(\".chart[data-key='loss']\");"
        " const d = el._plot.data; const ys = d[1]; const i = ys.indexOf(Math.max(...ys));"
        " return {n: d[0].length, max: ys[i], step: d[0][i]}; }"
    )
    assert drawn == {"n": sent, "max": SPIKE_VALUE, "step": SPIKE_STEP}
    # zoom by dragging over the middle of the plot: the server sends the range again
    box = pg.eval_on_selector(
        ".chart[data-key='loss'] .u-over",
        "e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }",
    )
    x, y, w, h = box
    pg.mouse.move(x + w * 0.55, y + h / 2)
    pg.mouse.down()
    pg.mouse.move(x + w * 0.7, y + h / 2, steps=5)
    pg.mouse.up()
    pg.wait_for_selector(".chart[data-key='loss'][data-zoomed]")
    zoomed = pg.evaluate("() => document.querySelector(\".chart[data-key='loss']\")._plot.data[0]")
    assert zoomed[0] > 0 and zoomed[-1] < 1999 and len(zoomed) == zoomed[-1] - zoomed[0] + 1
    assert page.errors == []


def test_the_lineage_graph_expands_on_click(page: Page) -> None:
    pg = page.goto(f"{P}/lineage?ref=clean_sample.csv:v1")
    pg.wait_for_function("window.__lineage && window.__lineage.cy.nodes().length > 0")
    before = pg.evaluate("() => window.__lineage.cy.nodes().length")
    target = pg.evaluate(
        "() => { const n = window.__lineage.cy.nodes(\"[kind = 'cluster'][of = 'run']\")[0];"
        " const p = n.renderedPosition(); const r = document.getElementById('graph').getBoundingClientRect();"
        " return {id: n.id(), x: r.x + p.x, y: r.y + p.y, count: n.data('count')}; }"
    )
    pg.mouse.click(target["x"], target["y"])
    pg.wait_for_function(f"document.getElementById('graph').dataset.nodes !== '{before}'")
    runs = pg.evaluate("() => window.__lineage.cy.nodes(\"[kind = 'run'][sub = 'train']\").length")
    assert runs == target["count"]  # the cluster opened into its members
    # their model versions no longer share one parent, so they are drawn one by one too
    assert (
        pg.evaluate("() => window.__lineage.cy.nodes().length") == before - 2 + 2 * target["count"]
    )
    assert pg.evaluate(f"() => window.__lineage.cy.getElementById('{target['id']}').length") == 0
    assert "train" in pg.inner_text("#node-info")
    assert page.errors == []


def test_the_diff_page_shows_the_changed_file_and_rows(page: Page) -> None:
    pg = page.goto(f"{P}/artifacts/clean_sample.csv")
    pg.select_option(".diff-form select[name=old]", "v0")
    pg.select_option(".diff-form select[name=new]", "v1")
    pg.click(".diff-form button")
    pg.wait_for_selector("#diff-files")
    files = pg.inner_text("#diff-files")
    assert "clean_sample.csv" in files and "notes.txt" in files and "changed" in files
    changed = pg.inner_text("table.changed-rows")
    assert "310" in changed and "299" in changed and "price" in changed
    assert "Greenpoint" in pg.inner_text("table.add-rows")
    assert "+ reviews" in pg.inner_text(".schema")
    assert page.errors == []


def test_the_dag_page_shows_states_change_while_a_pipeline_runs(
    browser: Any, store: Path, tmp_path: Path
) -> None:
    from tests.ui.demo_store import pipeline_project

    import stepline
    from stepline.backends import get_backend
    from stepline.pipeline.run import run_pipeline
    from stepline.pipeline.spec import load_pipeline
    from stepline.ui import create_app

    spec = load_pipeline(pipeline_project(tmp_path, sleep=4))
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.setdefault("r", run_pipeline(spec, jobs=2)), daemon=True
    )
    with Server(create_app(get_backend())) as server:
        worker.start()
        api = stepline.Api()
        deadline = time.monotonic() + 120
        executions: list[Any] = []
        while not executions and time.monotonic() < deadline:
            executions = api.runs("demo", filters={"job_type": "pipeline"})
            time.sleep(0.1)
        assert executions, "the execution did not start"
        page = Page(browser, server.url)
        try:
            pg = page.goto(f"/projects/demo/pipelines/{executions[0].id}")
            pg.wait_for_selector(
                "g.step[data-step='double'][data-state='running']", timeout=120_000
            )
            assert pg.get_attribute("#dag", "hx-trigger") == "every 1s"  # polling while it runs
            pg.wait_for_selector(
                "g.step[data-step='double'][data-state='finished']", timeout=120_000
            )
            pg.wait_for_selector("#exec-status:text('finished')", timeout=120_000)
            states = pg.eval_on_selector_all(
                "g.step", "gs => gs.map(g => [g.dataset.step, g.dataset.state])"
            )
            assert dict(states) == {
                "make": "finished",
                "double": "finished",
                "report": "finished",
                "side": "finished",
            }
            assert pg.get_attribute("#dag", "hx-trigger") is None  # polling stops at the end
            assert page.errors == []
        finally:
            page.context.close()
        worker.join(timeout=120)
    assert result["r"].status == "finished"


@pytest.mark.parametrize("name", ["runs", "run", "lineage"])
def test_pages_work_offline(page: Page, demo: DemoStore, name: str) -> None:
    """Every script and style comes from the app itself: no request leaves 127.0.0.1."""
    hosts: set[str] = set()
    page.page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    url = {
        "runs": P,
        "run": f"{P}/runs/{demo.demo.spike_run}",
        "lineage": f"{P}/lineage?ref=clean_sample.csv:v1",
    }[name]
    page.goto(url)
    assert hosts == {page.base.split("/")[2]}


def test_compare_selected_runs_from_the_table(page: Page, demo: DemoStore) -> None:
    pg = page.goto(P)
    a, b = demo.demo.train_runs[:2]
    pg.check(f"input[name=runs][value='{a}']")
    pg.check(f"input[name=runs][value='{b}']")
    pg.click("#compare-btn")
    pg.wait_for_selector(".legend")
    assert "Compare 2 runs" in pg.inner_text("h1")
    pg.wait_for_selector(".chart[data-key='loss'][data-drawn]")
    lines = pg.evaluate(
        "() => document.querySelector(\".chart[data-key='loss']\")._plot.series.length"
    )
    assert lines == 3  # steps + one line per run
    assert page.errors == []
