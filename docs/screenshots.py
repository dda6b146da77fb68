"""Regenerate the UI screenshots in docs/img/ from a demo store, in Debian's Chromium.

    .venv/bin/python docs/screenshots.py          # writes docs/img/ui-*.png

Builds a throwaway store (the UI tests' demo data plus two runs of a small pipeline), serves it
on 127.0.0.1 and saves one PNG per main page. Needs /usr/bin/chromium and `playwright` (dev extra).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="stepline-shots-"))
    os.environ["STEPLINE_DIR"] = str(tmp / ".stepline")
    os.environ["STEPLINE_CACHE_DIR"] = str(tmp / "cache")
    os.chdir(tmp)

    import stepline
    from stepline.backends import get_backend
    from stepline.pipeline.run import run_pipeline
    from stepline.pipeline.spec import load_pipeline
    from stepline.ui import create_app
    from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, Server
    from tests.ui.demo_store import PROJECT, build, pipeline_project

    demo = build(tmp)
    spec = pipeline_project(tmp)
    run_pipeline(load_pipeline(spec), jobs=2)
    run_pipeline(load_pipeline(spec, ["f=3"]), jobs=2)
    execution = stepline.Api().runs("demo", filters={"job_type": "pipeline"})[0].id
    p = f"/projects/{PROJECT}"
    pages = {
        "runs": (f"{p}/runs?sort=-summary.r2&group_by=group", 1440, 820),
        "run": (f"{p}/runs/{demo.spike_run}", 1440, 900),
        "compare": (f"{p}/compare?runs={','.join(demo.train_runs[:4])}", 1440, 1240),
        "artifact": (f"{p}/artifacts/clean_sample.csv", 1440, 860),
        "diff": (f"{p}/artifacts/clean_sample.csv/diff?old=v0&new=v1", 1440, 1200),
        "lineage": (f"{p}/lineage?ref=clean_sample.csv:v1", 1440, 760),
        "pipeline": (f"/projects/demo/pipelines/{execution}", 1440, 640),
        "registry": (f"/registry/{demo.model}", 1440, 520),
    }
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with Server(create_app(get_backend())) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, (url, width, height) in pages.items():
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.goto(server.url + url, wait_until="networkidle")
            page.wait_for_timeout(600)
            page.screenshot(path=str(OUT / f"ui-{name}.png"), full_page=False)
            page.close()
            print(f"docs/img/ui-{name}.png  {url}")
        browser.close()


if __name__ == "__main__":
    main()
