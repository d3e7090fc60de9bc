"""The web page in a real browser: Debian's Chromium, driven by Playwright, against a real
``grassroots serve`` of the sample city (the demo's, on the embedded store; the API under
the page is tested on both stores by test_api.py and test_subtrees.py).

What each test expects is read from the API (or the sample city's rows) first, never
written in: the page must show what the API answers. A missing Chromium fails the tests
(``make install`` / ``tools/install-chromium.sh`` installs it); nothing is skipped.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, sync_playwright

from grassroots.graph.duck import DuckStore
from grassroots.importers import import_path
from grassroots.sample.city import generate, write_bundle
from tests.processes import ask, run, serving

CHROMIUM = os.environ.get("GRASSROOTS_CHROMIUM", "/usr/bin/chromium")
# as root, and on a machine whose network is closed: no sandbox, no background traffic
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PERSONAL = "web-test-personal"  # a GRASSROOTS_API_TOKENS token with the personal grant


def _city_env(folder: Path, **extra: str) -> dict[str, str]:
    """An environment whose embedded store, in ``folder``, holds the sample city."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRASSROOTS_")}
    env.update(GRASSROOTS_STORE="local", GRASSROOTS_DATA=str(folder / "data"), **extra)
    ledger = folder / "ledger"
    list(write_bundle(generate("small"), ledger))
    with DuckStore(folder / "data") as store:
        import_path(store, ledger)
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = _city_env(
        tmp_path_factory.mktemp("web"), GRASSROOTS_API_TOKENS=f"{PERSONAL}=read,personal"
    )
    with serving(env) as (url, _log, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `make install` (tools/install-chromium.sh "
            "installs Debian's chromium) or set GRASSROOTS_CHROMIUM"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Visit:
    """One browser tab on a site, watching what the page fetches and logs: the test
    fails on a request that leaves the site, a failed file or a script error."""

    def __init__(self, browser: Browser, site: str, asked_for_token: bool = False) -> None:
        self.site = site
        self.asked_for_token = asked_for_token  # its 401s are expected: a token prompt's
        self.context = browser.new_context(
            locale="zh-CN", viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.fetched: dict[str, int] = {}  # url -> bytes, of the site's own files
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("console", self._console)
        self.page.on("request", self._request)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if self.asked_for_token and "status of 401" in message.text:
            return  # the browser's own line for the expected 401
        self.problems.append(f"console: {message.text}")

    def _request(self, request: Any) -> None:
        url = request.url
        if not url.startswith((self.site, "data:", "blob:")):
            self.problems.append(f"fetched from outside the server: {url}")

    def _response(self, response: Any) -> None:
        if response.status == 401 and self.asked_for_token:
            return
        if response.url.startswith(self.site) and response.status >= 400:
            self.problems.append(f"{response.status} for {response.url}")
        elif "/static/" in response.url:
            self.fetched[response.url] = len(response.body())

    def open(self, fragment: str = "") -> Page:
        self.page.goto(f"{self.site}/#/{fragment}")
        self.wait()
        return self.page

    def wait(self, after: int = 0) -> None:
        """Until the view has rendered (more than ``after`` times), and not as an error."""
        self.page.wait_for_function(
            f"Number(document.body.dataset.rendered || 0) > {after}", timeout=30_000
        )
        shown = self.page.evaluate("document.body.dataset.ready")
        assert shown != "error", self.page.inner_text("#view")

    def renders(self) -> int:
        return int(self.page.evaluate("Number(document.body.dataset.rendered || 0)"))

    def chart_text(self) -> str:
        return " ".join(self.page.locator("#org-chart text").all_text_contents())

    def close(self) -> None:
        self.context.close()
        assert not self.problems, self.problems


@pytest.fixture
def visit(browser: Browser, site: str) -> Iterator[Visit]:
    tab = Visit(browser, site)
    yield tab
    tab.close()


def api(site: str, query: str, token: str = "", **variables: Any) -> dict[str, Any]:
    status, body = ask(f"{site}/graphql", {"query": query, "variables": variables}, token)
    assert status == 200 and "errors" not in body, body
    return dict(body["data"])


GAPS = """query($scope: ID, $rule: String!, $asOf: Date) {
  coverage(scope: $scope, rules: [$rule], asOf: $asOf) { rules { titleZh source { clause }
    gaps(first: 100) { edges { node { id name path trail } } } } } }"""


def gaps(site: str, rule: str, scope: str | None = None, as_of: str | None = None) -> Any:
    found = api(site, GAPS, scope=scope, rule=rule, asOf=as_of)["coverage"]["rules"][0]
    return found, [e["node"] for e in found["gaps"]["edges"]]


def district_with_gaps(site: str, rule: str) -> str:
    """A district where ``rule`` has a gap (the sample city has some in each rule)."""
    _, found = gaps(site, rule)
    assert found, f"the sample city has no {rule} gap to look for"
    return str(found[0]["trail"][1])


def test_the_page_is_the_packages_own_and_fetches_nothing_from_outside(
    visit: Visit, site: str
) -> None:
    page = visit.open()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "覆盖情况" in page.inner_text("header")
    assert any(url.endswith("/static/vendor/echarts.js") for url in visit.fetched)
    # every file the page loaded came from the server (Visit fails on any other request)
    assert all(url.startswith(site) for url in visit.fetched)


def test_the_dashboard_lists_a_rules_gaps_with_their_clause(visit: Visit, site: str) -> None:
    district = district_with_gaps(site, "grid_has_branch")
    rule, found = gaps(site, "grid_has_branch", district)
    page = visit.open(f"dashboard?scope={district}&rule=grid_has_branch")
    listed = page.inner_text("table.gaps")
    for gap in found:
        assert gap["path"] in listed
    assert rule["source"]["clause"] in page.inner_text("#gaps")
    assert f"共 {len(found)} 个" in page.inner_text("#gaps h2")
    # the breakdown (it comes in after the gaps) names every subdistrict of the district
    page.wait_for_selector("#breakdown[data-done]", state="attached")
    shown = page.inner_text("#breakdown")
    area = api(site, "query($id: ID!) { area(id: $id) { children { name } } }", id=district)
    for child in area["area"]["children"]:
        assert child["name"] in shown


def test_the_chart_opens_a_level_and_marks_the_grid_without_a_branch(
    visit: Visit, site: str
) -> None:
    district = district_with_gaps(site, "grid_has_branch")
    rule, found = gaps(site, "grid_has_branch", district)
    grid = found[0]
    subdistrict, community = grid["trail"][-3:-1]
    orgs = "query($id: ID!) { area(id: $id) { partyOrgs { id name } } }"
    org = api(site, orgs, id=community)["area"]["partyOrgs"][0]["name"]
    root = api(site, orgs, id=subdistrict)["area"]["partyOrgs"][0]["id"]
    visit.open(f"chart?scope={district}&root={root}&depth=1")  # a level: in the middle
    assert org in visit.chart_text()  # a level below the subdistrict's committee
    assert grid["name"] not in visit.chart_text()  # the community is not open yet
    before = visit.page.get_attribute("#org-chart", "data-visible")
    visit.page.locator("#org-chart text", has_text=org).first.click()
    visit.page.wait_for_function(
        f"document.querySelector('#org-chart').dataset.visible !== '{before}'"
    )
    opened = visit.chart_text()
    assert grid["name"] in opened and rule["titleZh"] in opened  # the missing grid, marked
    panel = visit.page.inner_text("#org-panel")
    assert org in panel and grid["name"] in panel  # and listed among the gaps below


def test_a_gap_is_one_click_from_its_place_in_the_chart(visit: Visit, site: str) -> None:
    district = district_with_gaps(site, "grid_has_branch")
    _, found = gaps(site, "grid_has_branch", district)
    chain = api(
        site, "query($id: ID!) { responsibleChain(id: $id) { id name } }", id=found[0]["id"]
    )
    nearest = chain["responsibleChain"][0]
    page = visit.open(f"dashboard?scope={district}&rule=grid_has_branch")
    before = visit.renders()
    page.locator("table.gaps tr", has_text=found[0]["path"]).get_by_text("在组织架构中查看").click()
    visit.wait(before)
    page.wait_for_function("document.querySelector('#org-chart').dataset.focus")
    assert page.get_attribute("#org-chart", "data-focus") == nearest["id"]
    assert page.inner_text("#org-panel h2") == nearest["name"]


def test_search_finds_a_chinese_name(visit: Visit, site: str) -> None:
    villages = api(site, "{ areas(kind: VILLAGE, first: 1) { edges { node { id name } } } }")
    village = villages["areas"]["edges"][0]["node"]
    page = visit.open()
    before = visit.renders()
    page.fill("#search", village["name"][:2])
    page.press("#search", "Enter")
    visit.wait(before)
    assert "search?q=" in page.url
    hit = page.locator("table.hits a", has_text=village["name"]).first
    before = visit.renders()
    hit.click()
    visit.wait(before)
    assert f"place/{village['id']}" in page.url
    assert village["name"] in page.inner_text("h1")


def test_the_day_decides_what_is_a_gap(visit: Visit, site: str) -> None:
    """A liaison who came after some day: on the day before, the place lacks one."""
    dispatches = api(site, "{ dispatches(role: LIAISON) { since area { id name } } }")
    _, today = gaps(site, "area_has_liaison_cadre")
    missing = {g["id"] for g in today}

    def lacks_one_the_day_before(dispatch: dict[str, Any]) -> str | None:
        day = (date.fromisoformat(dispatch["since"]) - timedelta(days=1)).isoformat()
        _, then = gaps(site, "area_has_liaison_cadre", None, day)
        return day if dispatch["area"]["id"] in {g["id"] for g in then} else None

    came = (d for d in dispatches["dispatches"] if d["area"]["id"] not in missing)
    place, day = next((d["area"], x) for d in came if (x := lacks_one_the_day_before(d)))
    page = visit.open("dashboard?rule=area_has_liaison_cadre")
    assert place["name"] not in page.inner_text("#gaps")
    before = visit.renders()
    page.fill("#asof", day)
    visit.wait(before)
    assert f"asOf={day}" in page.url
    assert place["name"] in page.inner_text("#gaps")
    assert f"截至 {day}" in page.inner_text(".page-title")
    # the URL is the view: opened afresh, it shows the same
    again = Visit(visit.context.browser, site)  # type: ignore[arg-type]
    try:
        again.page.goto(page.url)
        again.wait()
        assert again.page.input_value("#asof") == day
        assert again.page.inner_text("#gaps") == page.inner_text("#gaps")
    finally:
        again.close()


def test_a_villages_page_shows_who_is_paired_with_it(visit: Visit, site: str) -> None:
    villages = api(site, "{ areas(kind: VILLAGE) { edges { node { id name } } } }")
    query = """query($id: ID!) { pairings(areaId: $id) {
      unit { name } responsible { name } projects { name } } }"""
    village, pairing = next(
        (v["node"], p)
        for v in villages["areas"]["edges"]
        for p in api(site, query, id=v["node"]["id"])["pairings"]
        if p["responsible"] and p["projects"]
    )
    page = visit.open(f"place/{village['id']}")
    shown = page.inner_text("table.pairings")
    assert pairing["unit"]["name"] in shown and pairing["responsible"]["name"] in shown
    for project in pairing["projects"]:
        assert project["name"] in shown


def test_the_excel_report_downloads_and_reads_back(visit: Visit, site: str) -> None:
    district = district_with_gaps(site, "grid_has_branch")
    query = """query($s: ID) { coverage(scope: $s) { asOf rules { id checked satisfied } } }"""
    report = api(site, query, s=district)["coverage"]
    page = visit.open(f"dashboard?scope={district}")
    with page.expect_download() as download:
        page.click("#download")
    saved = download.value.path()
    assert download.value.suggested_filename.endswith(f"{report['asOf']}.xlsx")
    book = load_workbook(io.BytesIO(Path(saved).read_bytes()))
    rows = {r[1]: r for r in book.worksheets[0].iter_rows(values_only=True) if r and r[1]}
    for rule in report["rules"]:
        assert (rows[rule["id"]][5], rows[rule["id"]][6]) == (rule["checked"], rule["satisfied"])


def test_the_print_view_leaves_out_the_controls(visit: Visit) -> None:
    page = visit.open()
    assert page.is_visible("header.bar") and page.is_visible("#download")
    page.emulate_media(media="print")
    assert not page.is_visible("header.bar") and not page.is_visible("#download")
    assert page.is_visible("table.rules")
    assert page.pdf(format="A4").startswith(b"%PDF")


def test_personal_data_is_shown_as_the_api_masks_it(visit: Visit, site: str) -> None:
    query = "{ people(first: 500) { edges { node { id name phone } } } }"
    masked = {e["node"]["id"]: e["node"] for e in api(site, query)["people"]["edges"]}
    whole = {e["node"]["id"]: e["node"] for e in api(site, query, PERSONAL)["people"]["edges"]}
    person = next(p for i, p in whole.items() if p["phone"] and p["phone"] != masked[i]["phone"])
    page = visit.open(f"person/{person['id']}")
    shown = page.inner_text("#view")
    assert masked[person["id"]]["phone"] in shown and person["phone"] not in shown


def test_a_district_account_is_asked_for_its_token_and_sees_its_district_only(
    browser: Browser, site: str, tmp_path: Path
) -> None:
    districts = api(site, "{ areas(kind: DISTRICT) { edges { node { id name } } } }")
    names = {e["node"]["id"]: e["node"]["name"] for e in districts["areas"]["edges"]}
    mine, *others = sorted(names)
    env = _city_env(tmp_path)
    assert (
        run("users", "add", "区组织部", "--role", "viewer", "--area", mine, env=env).returncode == 0
    )
    issued = run("tokens", "issue", "区组织部", env=env)
    token = issued.stdout.strip().splitlines()[-1]
    with serving(env) as (url, _log, _):
        tab = Visit(browser, url, asked_for_token=True)
        try:
            tab.page.goto(f"{url}/#/dashboard")
            tab.page.wait_for_selector("#token-dialog[open]")
            tab.page.fill("#token-dialog input", token)
            tab.page.click("#token-dialog button[value=ok]")
            tab.wait()
            scopes = tab.page.locator("#scope option").all_inner_texts()
            assert scopes and names[mine] in scopes[0]
            assert not any(names[o] in " ".join(scopes) for o in others)
            page_text = tab.page.inner_text("body")
            assert not any(names[o] in page_text for o in others)
            before = tab.renders()
            tab.page.fill("#search", names[others[0]])
            tab.page.press("#search", "Enter")
            tab.wait(before)
            assert "：0 条" in tab.page.inner_text("#view")  # the other district: not there
        finally:
            tab.close()
