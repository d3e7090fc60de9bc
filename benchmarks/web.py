"""What the web page costs a planner (issue 13): the time to the first render of the
coverage dashboard and of the org chart on a served store, each beside the time of the
GraphQL requests that view waits on (the very requests the page sent, asked again one
after another by httpx: the baseline), the page's weight, and the org chart with its
widest view (three levels from the city) open, with the frame rate while it is panned.

    python benchmarks/web.py --scale city        # imports the scale's ledger if needed

``run.py`` calls ``measure`` beside its lookups; on its own this writes
``benchmarks/results/web-SCALE.md``. Chromium is Debian's (tools/install-chromium.sh).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from processes import grassroots, run, serve
from scoping import district

HERE = Path(__file__).resolve().parent
STATIC = HERE.parent / "grassroots" / "web" / "static"
CHROMIUM = os.environ.get("GRASSROOTS_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
DAY = "2026-06-30"
REPEAT = 3
AIM_FPS = 30.0  # "fluid": a pan of the widest chart keeps 30 frames a second
AIM_VISIBLE = 2000
VIEWS = {  # each view, fresh in a tab of its own
    "dashboard, the largest district": "dashboard?scope={district}&asOf={day}",
    "dashboard, the city": "dashboard?scope={city}&asOf={day}",
    "org chart, the largest district": "chart?scope={district}&asOf={day}",
    "org chart, the city, 3 levels": "chart?scope={city}&root={org}&depth=3&asOf={day}",
}


def weight() -> dict[str, int]:
    """The page's files as served, and gzipped (what a proxy that compresses would send)."""
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "gzip_bytes": sum(len(gzip.compress(p.read_bytes(), 9)) for p in files),
        "library_bytes": (STATIC / "vendor" / "echarts.js").stat().st_size,
    }


def _first_render(browser: Any, url: str, fragment: str) -> tuple[float, float, list[str], int]:
    """Seconds from navigation to the view's first render in a fresh tab and to its
    last part (a dashboard's breakdown by area), the GraphQL bodies the page sent, and
    the orgs the chart shows (0 for the dashboard)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda r: r.method == "POST" and sent.append(r.post_data or ""))
    start = time.perf_counter()
    page.goto(f"{url}/#/{fragment}")
    # first render: a dashboard's rules and gaps, a chart's orgs (its marks come later)
    page.wait_for_function(
        "Number(document.body.dataset.rendered || 0) > 0"
        " || document.querySelector('#org-chart')?.dataset.visible",
        timeout=600_000,
    )
    seconds = time.perf_counter() - start
    page.wait_for_function("Number(document.body.dataset.rendered || 0) > 0", timeout=600_000)
    if page.evaluate("document.body.dataset.ready") == "error":
        raise SystemExit(f"the page failed on {fragment}: {page.inner_text('#view')}")
    if fragment.startswith("dashboard"):
        page.wait_for_selector("#breakdown[data-done]", state="attached", timeout=600_000)
    complete = time.perf_counter() - start
    visible = page.evaluate("Number(document.querySelector('#org-chart')?.dataset.visible || 0)")
    context.close()
    return seconds, complete, sent, int(visible)


def _api_time(url: str, bodies: list[str]) -> float:
    """The same requests, one after another, from Python: what the view waits on."""
    with httpx.Client(timeout=600) as client:
        start = time.perf_counter()
        for body in bodies:
            answer = client.post(f"{url}/graphql", content=body,
                                 headers={"content-type": "application/json"})  # fmt: skip
            if answer.status_code != 200 or "errors" in answer.json():
                raise SystemExit(f"the page's request failed: {answer.text[:300]}")
        return time.perf_counter() - start


def _panned_fps(browser: Any, url: str, fragment: str) -> tuple[float, int]:
    """Frames a second while the chart is dragged for about two seconds, and how many
    orgs it shows."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{url}/#/{fragment}")
    page.wait_for_function("Number(document.body.dataset.rendered || 0) > 0", timeout=600_000)
    visible = int(page.evaluate("Number(document.querySelector('#org-chart').dataset.visible)"))
    box = page.locator("#org-chart").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(
        """() => { window.frames_ = 0; const count = () => { window.frames_++;
           if (!window.stop_) requestAnimationFrame(count); }; requestAnimationFrame(count); }"""
    )
    start = time.perf_counter()
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(60):  # back and forth, 30 px a step
        dx = 30 * ((step % 20) - 10)
        page.mouse.move(x + dx, y + dx / 3)
    page.mouse.up()
    page.mouse.wheel(0, -400)  # and a zoom
    page.wait_for_timeout(200)
    frames = page.evaluate("() => { window.stop_ = true; return window.frames_; }")
    seconds = time.perf_counter() - start
    context.close()
    return frames / seconds, visible


def measure(url: str, folder: Path, repeat: int = REPEAT) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chosen, _ = district(folder)
    city = next(
        r["id"] for r in _csv(folder / "areas.csv") if r["kind"] == "city" and not r["parent_id"]
    )
    city_org = next(r["id"] for r in _csv(folder / "party_orgs.csv") if r["area_id"] == city)
    views = {
        name: fragment.format(district=chosen, city=city, org=city_org, day=DAY)
        for name, fragment in VIEWS.items()
    }
    out: dict[str, Any] = {"weight": weight(), "views": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for name, fragment in views.items():
                print(f"  web: {name}", file=sys.stderr, flush=True)
                page, whole, api, visible = [], [], [], 0
                for _ in range(repeat):
                    seconds, complete, sent, visible = _first_render(browser, url, fragment)
                    page.append(seconds)
                    whole.append(complete)
                    api.append(_api_time(url, sent))
                out["views"][name] = {
                    "page_s": statistics.median(page),
                    "complete_s": statistics.median(whole),
                    "api_s": statistics.median(api),
                    "requests": len(sent),
                    "visible": visible,
                }
            fps, visible = _panned_fps(browser, url, views["org chart, the city, 3 levels"])
            out["pan"] = {"fps": fps, "visible": visible}
        finally:
            browser.close()
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def rows(r: dict[str, Any]) -> list[str]:
    w = r["weight"]
    lines = [
        "| view | first render in the browser | complete (a chart's marks, a dashboard's"
        " breakdown by area)"
        " | all its GraphQL requests, one after another (baseline) | complete / baseline"
        " | requests | orgs shown |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in r["views"].items():
        lines.append(
            f"| {name} | {v['page_s']:.2f} s | {v['complete_s']:.2f} s | {v['api_s']:.2f} s |"
            f" {v['complete_s'] / v['api_s']:.2f}x | {v['requests']} | {v['visible'] or '–'} |"
        )
    pan = r["pan"]
    fluid = pan["fps"] >= AIM_FPS and pan["visible"] >= AIM_VISIBLE
    lines += [
        "",
        f"- Page weight: {w['files']} files, {w['bytes'] / 1024:,.0f} KiB as served"
        f" ({w['gzip_bytes'] / 1024:,.0f} KiB gzipped), of which Apache ECharts"
        f" {w['library_bytes'] / 1024:,.0f} KiB.",
        f"- Panning the widest chart ({pan['visible']:,} orgs shown): {pan['fps']:.0f} frames"
        f" a second (aim: {AIM_FPS:.0f} with {AIM_VISIBLE:,} orgs shown):"
        f" {'met' if fluid else 'not met'}.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="district")
    parser.add_argument("--data", type=Path, help="an embedded store holding the scale")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from run import bundle, commit, machine

    folder = bundle(args.scale)
    with tempfile.TemporaryDirectory(prefix="grassroots-web-") as tmp:
        data = args.data or Path(tmp) / "store"
        env = {**os.environ, "GRASSROOTS_STORE": "local", "GRASSROOTS_DATA": str(data)}
        if not (data / "grassroots.duckdb").exists():
            print(f"  importing {folder}", file=sys.stderr, flush=True)
            run([*grassroots(), "import", str(folder)], env)
        with serve(env) as served:
            result = measure(served.url, folder)
    text = "\n".join(
        [
            f"# The web page at {args.scale} scale, embedded store",
            "",
            f"Commit {commit()}; {machine()}; Chromium {CHROMIUM}; day {DAY}; the median of"
            f" {REPEAT} fresh tabs each.",
            "",
            *rows(result),
            "",
        ]
    )
    target = HERE / "results" / f"web-{args.scale}.md"
    target.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
