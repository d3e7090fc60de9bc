"""The screenshots of the web page in docs/img/: the sample city (``grassroots demo``'s)
in a served embedded store, shot in Debian's Chromium.

    .venv/bin/python tools/screenshots.py        # rewrites docs/img/web-*.png
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from grassroots.graph.duck import DuckStore
from grassroots.importers import import_path
from grassroots.sample.city import generate, write_bundle

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "img"
CHROMIUM = os.environ.get("GRASSROOTS_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PORT = 8931


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ledger, data = Path(tmp) / "ledger", Path(tmp) / "data"
        list(write_bundle(generate("small"), ledger))
        with DuckStore(data) as store:
            import_path(store, ledger)
        env = {**os.environ, "GRASSROOTS_STORE": "local", "GRASSROOTS_DATA": str(data)}
        env.pop("GRASSROOTS_API_TOKENS", None)
        grassroots = str(Path(sys.executable).with_name("grassroots"))
        server = subprocess.Popen(
            [grassroots, "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            site = f"http://127.0.0.1:{PORT}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{site}/healthz", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            shoot(site)
        finally:
            server.terminate()
            server.wait()


def shoot(site: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")

        def view(fragment: str) -> None:
            page.goto(f"{site}/#/{fragment}")
            page.wait_for_function(
                "document.body.dataset.ready === '" + fragment.split("?")[0].split("/")[0] + "'"
            )

        view("dashboard?scope=D02&rule=grid_has_branch")
        page.wait_for_selector("#breakdown[data-done]", state="attached")
        page.screenshot(path=OUT / "web-dashboard.png")
        view("chart?scope=D02")
        page.locator("#org-chart text", has_text="中共华乐社区委员会").first.click()
        page.wait_for_timeout(800)
        page.screenshot(path=OUT / "web-chart.png")
        view("place/D03S02V02")
        page.screenshot(path=OUT / "web-place.png", full_page=True)
        browser.close()
    for shot in sorted(OUT.glob("web-*.png")):
        print(f"wrote {shot.relative_to(REPO)} ({shot.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
