"""Coverage rules on both stores, against hand-built graphs whose answers are known."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.cells import cell_len
from rich.console import Console

from grassroots.errors import NotFound, RuleError
from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.queries.coverage import coverage, load_packs
from grassroots.queries.coverage.engine import Gap, Report, RuleResult, breakdown
from grassroots.queries.coverage.report import (
    Breakdown,
    accounting,
    print_table,
    to_json,
    write_xlsx,
)
from grassroots.sample.city import generate, write_bundle
from grassroots.schema import AreaKind
from tests.ledgers import Ledger, small_city, write_ledger

DAY = date(2026, 6, 30)
SOURCES = Path(__file__).resolve().parents[1] / "grassroots" / "queries" / "coverage" / "sources"
PACKS = SOURCES.parent / "packs"
REQUIREMENTS = Path(__file__).parent / "data" / "policy-requirements.yaml"
# CI checks out the shared folder beside the repository; the sources are copies of it
POLICY_SOURCES = Path(__file__).resolve().parents[2] / "shared" / "policy" / "sources"
GRASSROOTS = str(Path(sys.executable).with_name("grassroots"))


def load(store: Store, tmp_path: Path, ledger: Ledger) -> Store:
    import_path(store, write_ledger(tmp_path / f"l{len(list(tmp_path.iterdir()))}", ledger))
    return store


def gaps(store: Store, rule: str, *, day: date = DAY, scope: str | None = None) -> list[str]:
    (result,) = coverage(store, rules=[rule], scope=scope, as_of=day).results
    assert result.satisfied + len(result.gaps) == result.checked
    return [g.id for g in result.gaps]


def checked(store: Store, rule: str, *, day: date = DAY, scope: str | None = None) -> int:
    (result,) = coverage(store, rules=[rule], scope=scope, as_of=day).results
    return result.checked


def pack_rule(pack: str, rule_id: str) -> dict[str, Any]:
    """A rule as its pack file writes it, read without the engine."""
    raw = yaml.safe_load((PACKS / f"{pack}.yaml").read_text(encoding="utf-8"))
    return next(r for r in raw["rules"] if r["id"] == rule_id)


@pytest.fixture
def city(store: Store, tmp_path: Path) -> Store:
    return load(store, tmp_path, small_city())


# -- the contract's rules --------------------------------------------------------------------


def test_grid_has_branch(city: Store) -> None:
    assert checked(city, "grid_has_branch") == 2
    assert gaps(city, "grid_has_branch") == ["G2"]


def test_a_group_on_a_grid_is_no_branch(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["party_orgs"].append(
        {"id": "OG2", "name": "第2网格党小组", "form": "group", "parent_id": "OK", "area_id": "G2"}
    )
    load(store, tmp_path, ledger)
    assert gaps(store, "grid_has_branch") == ["G2"]
    ledger["party_orgs"][-1]["form"] = "general_branch"
    load(store, tmp_path, ledger)
    assert gaps(store, "grid_has_branch") == []


def test_building_has_group(city: Store) -> None:
    assert gaps(city, "building_has_group") == ["B2"]


def test_household_has_contact(city: Store) -> None:
    assert checked(city, "household_has_contact") == 2
    assert gaps(city, "household_has_contact") == ["H2"]


def test_a_contact_by_a_non_member_does_not_count(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["people"][0]["party_member"] = "false"
    load(store, tmp_path, ledger)
    assert gaps(store, "household_has_contact") == ["H1", "H2"]


def test_area_has_party_org(city: Store) -> None:
    assert checked(city, "area_has_party_org") == 2
    assert gaps(city, "area_has_party_org") == ["V"]


def test_area_has_resident_and_liaison_cadre(city: Store) -> None:
    assert gaps(city, "area_has_resident_cadre") == ["V"]
    assert gaps(city, "area_has_liaison_cadre") == ["K", "V"]  # sorted by path
    assert gaps(city, "area_has_resident_cadre", day=date(2023, 12, 31)) == ["K", "V"]


def test_first_secretary_counts_as_resident(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["dispatches"].append(
        {
            "id": "DP2",
            "person_id": "P3",
            "unit_id": "U1",
            "area_id": "V",
            "role": "first_secretary",
            "since": "2025-01-01",
        }
    )
    ledger["dispatches"].append(
        {
            "id": "DP3",
            "person_id": "P3",
            "unit_id": "U1",
            "area_id": "K",
            "role": "liaison",
            "since": "2025-01-01",
        }
    )
    load(store, tmp_path, ledger)
    assert gaps(store, "area_has_resident_cadre") == []
    assert gaps(store, "area_has_liaison_cadre") == ["V"]


def test_area_is_paired(city: Store) -> None:
    assert gaps(city, "area_is_paired") == ["V"]
    assert gaps(city, "area_is_paired", day=date(2023, 12, 31)) == ["K", "V"]


def test_pairing_has_project(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["pairings"].append({"id": "PR2", "unit_id": "U2", "org_id": "OK", "since": "2025-01-01"})
    load(store, tmp_path, ledger)
    assert checked(store, "pairing_has_project") == 2
    assert gaps(store, "pairing_has_project") == ["PR2"]
    # before PR2 began, only PR1 was active and it has a project
    assert checked(store, "pairing_has_project", day=date(2024, 6, 1)) == 1
    assert gaps(store, "pairing_has_project", day=date(2024, 6, 1)) == []


def test_pairing_has_responsible_leader(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["pairings"] += [
        # P3 leads U2, not U1: the wrong unit
        {
            "id": "PR2",
            "unit_id": "U1",
            "org_id": "OK",
            "responsible_id": "P3",
            "since": "2025-01-01",
        },
        # nobody named
        {"id": "PR3", "unit_id": "U1", "org_id": "OK", "since": "2025-01-01"},
        # P1 has no job at all
        {
            "id": "PR4",
            "unit_id": "U2",
            "org_id": "OK",
            "responsible_id": "P1",
            "since": "2025-01-01",
        },
    ]
    ledger["employments"].append(
        {"person_id": "P1", "unit_id": "U2", "position": "民警", "leadership": "false"}
    )
    load(store, tmp_path, ledger)
    assert sorted(gaps(store, "pairing_has_responsible_leader")) == ["PR2", "PR3", "PR4"]


def test_a_leader_whose_employment_ended_is_no_longer_responsible(
    store: Store, tmp_path: Path
) -> None:
    ledger = small_city()
    ledger["employments"][0]["until"] = "2025-12-31"
    load(store, tmp_path, ledger)
    assert gaps(store, "pairing_has_responsible_leader", day=date(2025, 12, 31)) == []
    assert gaps(store, "pairing_has_responsible_leader", day=date(2026, 1, 1)) == ["PR1"]


def test_big_committee_formed(city: Store) -> None:
    # orgs built on a subdistrict, township or community: OS and OK (T has none)
    assert checked(city, "big_committee_formed") == 2
    assert gaps(city, "big_committee_formed") == ["OS"]
    assert gaps(city, "big_committee_formed", day=date(2021, 12, 31)) == ["OS", "OK"]


# -- as-of: the edges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "active"),
    [
        ("", "", True),  # open-ended
        (DAY.isoformat(), "", True),  # starts today
        ((DAY + timedelta(days=1)).isoformat(), "", False),  # starts tomorrow
        ("", DAY.isoformat(), True),  # ends today
        ("", (DAY - timedelta(days=1)).isoformat(), False),  # ended yesterday
        ("2020-01-01", "2030-01-01", True),
    ],
)
def test_as_of_edges(store: Store, tmp_path: Path, since: str, until: str, active: bool) -> None:
    ledger = small_city()
    ledger["contacts"] = [{"person_id": "P2", "household_id": "H2", "since": since, "until": until}]
    ledger["dispatches"][0].update(since=since or "2000-01-01", until=until)
    load(store, tmp_path, ledger)
    assert ("H2" not in gaps(store, "household_has_contact")) is active
    assert ("K" not in gaps(store, "area_has_resident_cadre")) is active


# -- scope -------------------------------------------------------------------------------------


def test_scope_limits_every_focus(city: Store) -> None:
    assert checked(city, "grid_has_branch", scope="K") == 2
    assert checked(city, "grid_has_branch", scope="G1") == 1
    assert checked(city, "grid_has_branch", scope="T") == 0
    assert gaps(city, "household_has_contact", scope="G2") == ["H2"]
    assert checked(city, "household_has_contact", scope="B1") == 1
    assert checked(city, "area_has_party_org", scope="D") == 2
    assert checked(city, "area_has_party_org", scope="S") == 1
    assert checked(city, "pairing_has_project", scope="S") == 1
    assert checked(city, "pairing_has_project", scope="T") == 0
    assert checked(city, "big_committee_formed", scope="K") == 1


def test_a_party_org_scope_stands_for_its_area(city: Store) -> None:
    assert checked(city, "grid_has_branch", scope="OK") == checked(
        city, "grid_has_branch", scope="K"
    )
    with pytest.raises(NotFound, match="neither the id nor the name of any Area or PartyOrg"):
        coverage(city, scope="NOWHERE")
    with pytest.raises(NotFound, match="is a Household, not a"):
        coverage(city, scope="H1")


# -- the report --------------------------------------------------------------------------------


def test_the_json_report_has_the_contract_shape(city: Store) -> None:
    data = coverage(city, packs=["core"], as_of=DAY).to_json()
    assert set(data) == {"as_of", "scope", "packs", "other_packs", "rules"}
    assert data["as_of"] == "2026-06-30" and data["scope"] is None
    assert data["packs"] == ["core"] and "dalian" in data["other_packs"]
    assert [r["id"] for r in data["rules"]] == [
        "grid_has_branch",
        "building_has_group",
        "household_has_contact",
        "area_has_party_org",
    ]
    rule = data["rules"][0]
    assert set(rule) == {
        "id",
        "pack",
        "title",
        "title_zh",
        "severity",
        "source",
        "checked",
        "satisfied",
        "ratio",
        "nothing_to_check",
        "gaps",
    }
    assert set(rule["source"]) == {"document", "clause", "quote"}
    assert (rule["checked"], rule["satisfied"], rule["ratio"]) == (2, 1, 0.5)
    assert rule["gaps"] == [
        {
            "id": "G2",
            "name": "东山第2网格",
            "path": "大连市/中山区/桃源街道/东山社区/东山第2网格",
            "message": pack_rule("core", "grid_has_branch")["message"],
        }
    ]
    assert rule["gaps"][0]["message"].startswith("网格上没有建立党支部")


def test_gap_paths_for_households_and_party_orgs(city: Store) -> None:
    (households,) = coverage(city, rules=["household_has_contact"], as_of=DAY).results
    assert households.gaps[0].path == "大连市/中山区/桃源街道/东山社区/东山第2网格/2号楼/2-101"
    (orgs,) = coverage(city, rules=["big_committee_formed"], as_of=DAY).results
    assert orgs.gaps[0].path == "市委/区委/街道党工委"


def test_unknown_packs_and_rules_are_refused(city: Store) -> None:
    with pytest.raises(RuleError, match="unknown pack"):
        coverage(city, packs=["mars"])
    with pytest.raises(RuleError, match="unknown rule"):
        coverage(city, rules=["every_cat_has_a_hat"])
    with pytest.raises(RuleError, match="checked by hand"):
        coverage(city, rules=["dy_one_shoulder"])


# -- the report as planners read it ----------------------------------------------------------


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRASSROOTS, *args], env=env, capture_output=True, text=True, timeout=300)


def rendered(report: Report, split: Breakdown | None = None, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width)
    print_table(report, console, split)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(text, str)
    return text


def test_coverage_checks_core_and_the_packs_chosen_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    env.pop("GRASSROOTS_PACKS", None)
    assert cli("import", str(write_ledger(tmp_path / "l", small_city())), env=env).returncode == 0

    def packs(*args: str, **more: str) -> list[str]:
        result = cli("coverage", "--as-of", "2026-06-30", "--format", "json", *args, env=env | more)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        ran = {r["pack"] for r in data["rules"]}
        assert set(data["packs"]) == ran
        assert set(data["other_packs"]) == set(load_packs()) - ran
        return list(data["packs"])

    assert packs() == ["core", "dalian"]  # the contract's packs, unless chosen otherwise
    assert packs(GRASSROOTS_PACKS="") == ["core"]
    assert packs(GRASSROOTS_PACKS="all") == list(load_packs())
    assert packs(GRASSROOTS_PACKS="dalian, shandong") == ["core", "dalian", "shandong"]
    assert packs("--pack", "loudi", GRASSROOTS_PACKS="dalian") == ["loudi"]
    assert packs("--pack", "all") == list(load_packs())
    assert packs("--rule", "area_is_paired") == ["dalian"]

    table = cli("coverage", "--as-of", "2026-06-30", env=env | {"GRASSROOTS_PACKS": "dalian"})
    assert table.returncode == 0, table.stderr
    header = " ".join(table.stdout.split("pack core")[0].split())
    assert "packs checked: core, dalian" in header
    assert "--pack danyang" in header and "GRASSROOTS_PACKS" in header and "--pack all" in header

    bad = cli("coverage", env=env | {"GRASSROOTS_PACKS": "dalian,mars"})
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "'mars'" in bad.stderr and "GRASSROOTS_PACKS" in bad.stderr
    assert all(name in bad.stderr for name in load_packs())


def test_nothing_to_check_is_said_not_scored(store: Store, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    ledger = small_city()
    ledger["areas"].append({"id": "D2", "name": "西岗区", "kind": "district", "parent_id": "C"})
    load(store, tmp_path, ledger)
    rules = ["grid_has_branch", "area_has_party_org"]
    report = coverage(store, rules=rules, scope="T", as_of=DAY)
    grid, place = report.results
    assert (grid.checked, grid.nothing_to_check) == (0, True)
    assert (place.checked, place.nothing_to_check) == (1, False)
    split = breakdown(store, AreaKind.DISTRICT, rules=rules, as_of=DAY)
    assert [area for area, _, _ in split] == ["D", "D2"]

    data = json.loads(to_json(report, split))
    assert [(r["ratio"], r["nothing_to_check"]) for r in data["rules"]] == [
        (None, True),
        (0.0, False),
    ]
    by = {row["id"]: row["rules"] for row in data["by"]}
    assert [(r["ratio"], r["nothing_to_check"]) for r in by["D2"]] == [(None, True)] * 2
    assert [(r["ratio"], r["nothing_to_check"]) for r in by["D"]] == [(0.5, False)] * 2

    text = rendered(report, split, width=120)
    tables, _, by_area = text.partition("ratio by area")
    assert "nothing to check" in next(li for li in tables.splitlines() if "grid_has_branch" in li)
    assert "100" not in text
    header = next(li for li in by_area.splitlines() if "西岗区" in li)
    assert header.index("中山区") < header.index("西岗区")
    # the grid row: 50.0% in 中山区, and nothing to check in 西岗区
    assert next(li for li in by_area.splitlines() if "grid_has_branch" in li).split()[1:] == [
        "50.0%",
        "–",
    ]

    book_path = tmp_path / "report.xlsx"
    write_xlsx(report, book_path, split)
    book = load_workbook(book_path)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    ratios = {row[1]: row[7] for row in rows if row and row[1] in rules}
    assert ratios == {"grid_has_branch": "nothing to check", "area_has_party_org": 0.0}
    (west,) = [
        row for row in book["by area"].iter_rows(values_only=True) if row[0] == "大连市/西岗区"
    ]
    assert west[1:] == ("–", "–")


@pytest.mark.parametrize("name", ["第[/b]网格", "[b座]"])
def test_names_are_printed_as_they_are(store: Store, tmp_path: Path, name: str) -> None:
    ledger = small_city()
    ledger["areas"][1]["name"] = f"中山区{name}"  # the district, a column of --by district
    ledger["areas"][5]["name"] = name  # G2, a gap of grid_has_branch
    ledger["areas"][5]["id"] = f"G{name}"
    for area in ledger["areas"]:
        if area["parent_id"] == "G2":
            area["parent_id"] = f"G{name}"
    load(store, tmp_path, ledger)
    report = coverage(store, packs=["core"], scope=f"G{name}", as_of=DAY)
    split = breakdown(store, AreaKind.DISTRICT, packs=["core"], as_of=DAY)
    text = rendered(report, split, width=160)
    assert f"中山区{name}/桃源街道/东山社区/{name}" in text  # the gap's path
    assert f"G{name}" in text  # its id
    assert f"中山区{name}" in text.split("ratio by area")[1]  # the breakdown's column
    assert text.splitlines()[0].endswith(f" in G{name}")  # the scope asked for


def test_the_table_is_readable_at_80_columns_and_uses_160(store: Store, tmp_path: Path) -> None:
    list(write_bundle(generate("small", seed=5), tmp_path / "city"))
    import_path(store, tmp_path / "city")
    report = coverage(store, packs=["all"], as_of=DAY)
    split = breakdown(store, AreaKind.SUBDISTRICT, packs=["all"], as_of=DAY)
    districts = [path.rsplit("/", 1)[1] for _, path, _ in split]  # their own names head columns
    assert len(report.results) > 40 and len(districts) == 4
    for width in (80, 160):
        text = rendered(report, split, width)
        lines = text.splitlines()
        assert max(cell_len(line) for line in lines) <= width
        assert "…" not in text
        tables, _, _ = text.partition("Gaps")
        for result in report.results:
            # each rule id whole, in the pack's table and in the breakdown's
            assert len(re.findall(rf"(?<!\w){result.rule.id}(?!\w)", text)) >= 2, result.rule.id
            assert result.rule.id in tables
        for pack in report.packs:
            header = next(i for i, line in enumerate(lines) if line.strip() == f"pack {pack}")
            names = " ".join(lines[header + 1 : header + 4]).split()
            assert {"rule", "severity", "checked", "gaps", "ratio"} <= set(names), (width, pack)
        for district in districts:
            assert district in text.split("ratio by area")[1]
    wide = rendered(report, split, 160).split("ratio by area")[1].splitlines()
    assert any(all(d in line for d in districts) for line in wide)  # one block at 160
    narrow = rendered(report, split, 80).split("ratio by area")[1].splitlines()
    assert not any(all(d in line for d in districts) for line in narrow)


def test_the_workbook_is_typed_named_and_linked(store: Store, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    ledger = small_city()
    ledger["areas"][5]["name"] = '=HYPERLINK("http://example.com","点此")'  # G2, a gap
    load(store, tmp_path, ledger)
    report = coverage(store, packs=["all"], as_of=DAY)
    split = breakdown(store, AreaKind.SUBDISTRICT, packs=["all"], as_of=DAY)
    path = tmp_path / "report.xlsx"
    write_xlsx(report, path, split)
    book = load_workbook(path)
    names = book.sheetnames
    assert len(names) == len(set(names)) and all(len(n) <= 31 for n in names)
    summary = book.worksheets[0]
    header = next(r for r in summary.iter_rows() if r[1].value == "规则 rule")
    rows = [r for r in summary.iter_rows(min_row=header[0].row + 1) if r[1].value]
    with_gaps = [r.rule.id for r in report.results if r.gaps]
    assert len(with_gaps) > 20
    assert any(len(i) > 31 for i in with_gaps)  # the long ids need short sheet names
    linked = {}
    for row in rows:
        rule_id, ratio = row[1].value, row[7]
        result = next(r for r in report.results if r.rule.id == rule_id)
        if result.nothing_to_check:
            assert ratio.value == "nothing to check"
        else:
            assert ratio.number_format == "0.0%" and ratio.value == result.ratio
        if row[1].hyperlink is not None:
            linked[rule_id] = row[1].hyperlink.location
    assert set(linked) == set(with_gaps)
    for rule_id, location in linked.items():
        sheet_name = location.rsplit("!", 1)[0].strip("'")
        assert book[sheet_name]["A1"].value == rule_id  # the full id heads its sheet
        if len(rule_id) <= 31:
            assert sheet_name == rule_id
        else:  # a readable short form: the id's words, shortened
            words = rule_id.split("_")
            assert sheet_name.split("_")[0] == words[0] and len(sheet_name.split("_")) == len(words)
    grid = book[linked["grid_has_branch"].rsplit("!", 1)[0].strip("'")]
    (gap,) = [row for row in grid.iter_rows(min_row=4) if row[0].value == "G2"]
    assert gap[1].value == '=HYPERLINK("http://example.com","点此")'
    assert gap[1].data_type == "s"
    by_area = book["by area"]
    assert by_area["B2"].number_format == "0.0%"


def test_the_workbook_strips_characters_excel_refuses(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    rule = load_packs()["core"].rules[0]
    gap = Gap("G\x07", "第\x01网格", "市/区\x1b/网格", "没有\x00支部")
    report = Report(DAY, None, [RuleResult(rule, 2, [gap])], packs=["core"])
    write_xlsx(report, tmp_path / "r.xlsx")
    sheet = load_workbook(tmp_path / "r.xlsx").worksheets[1]
    assert [c.value for c in sheet[4]] == ["G", "第网格", "区", "市/区/网格", "没有支部"]


# -- the other shapes, through regional rules -------------------------------------------------


def test_exactly_one_of_each_cadre(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["dispatches"] += [
        {
            "id": "DP2",
            "person_id": "P3",
            "unit_id": "U1",
            "area_id": "K",
            "role": "liaison",
            "since": "2024-01-01",
        },
        {
            "id": "DP3",
            "person_id": "P1",
            "unit_id": "U1",
            "area_id": "V",
            "role": "resident",
            "since": "2024-01-01",
        },
        {
            "id": "DP4",
            "person_id": "P2",
            "unit_id": "U1",
            "area_id": "V",
            "role": "resident",
            "since": "2024-01-01",
        },
        {
            "id": "DP5",
            "person_id": "P2",
            "unit_id": "U1",
            "area_id": "V",
            "role": "liaison",
            "since": "2024-01-01",
        },
    ]
    load(store, tmp_path, ledger)
    assert gaps(store, "dl_dispatch_two_per_unit") == ["V"]  # two residents in V


def test_compare_against_a_multiple_of_another_property(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["areas"][3].update(households="1000", service_centre_m2="299")
    load(store, tmp_path, ledger)
    assert gaps(store, "dl_community_centre_per_100_households") == ["K"]
    ledger["areas"][3]["service_centre_m2"] = "300"
    load(store, tmp_path, ledger)
    assert gaps(store, "dl_community_centre_per_100_households") == []


def test_missing_data_is_a_gap(city: Store) -> None:
    assert gaps(city, "dl_community_party_service_fund") == ["K"]


def test_a_count_between_bounds(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    for index in range(4, 7):
        ledger["people"].append({"id": f"P{index}", "name": f"委员{index}"})
        ledger["posts"].append(
            {
                "person_id": f"P{index}",
                "org_id": "OK",
                "post": "committee_member",
                "since": "2023-01-01",
            }
        )
    load(store, tmp_path, ledger)
    # P1 secretary + 3 members = 4; P3's concurrent post does not count
    assert gaps(store, "ld_two_committee_each_size") == []
    ledger["posts"][-1]["until"] = "2025-01-01"
    ledger["posts"][-2]["until"] = "2025-01-01"
    load(store, tmp_path, ledger)
    assert gaps(store, "ld_two_committee_each_size") == ["OK"]


def test_a_match_on_the_focus(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["party_orgs"][3]["member_count"] = "120"
    ledger["party_orgs"][3]["form"] = "general_branch"
    load(store, tmp_path, ledger)
    assert gaps(store, "dy_party_committee_threshold") == ["OK"]


def test_dispatching_unit_is_paired(store: Store, tmp_path: Path) -> None:
    ledger = small_city()
    ledger["dispatches"].append(
        {
            "id": "DP2",
            "person_id": "P3",
            "unit_id": "U2",
            "area_id": "K",
            "role": "liaison",
            "since": "2024-01-01",
        }
    )
    load(store, tmp_path, ledger)
    assert gaps(store, "dispatching_unit_is_paired") == ["DP2"]


# -- a whole city against an independent evaluation -----------------------------------------


def expected_gaps(rows: Ledger, day: str, scope: str) -> dict[str, tuple[int, list[str]]]:
    """The contract's rules evaluated in plain Python over the ledger rows themselves (the
    contract's wording, section 3), without the engine, the packs or a store: per rule,
    how many nodes are checked and which fail."""

    def active(row: dict[str, Any]) -> bool:
        return (not row.get("since") or row["since"] <= day) and (
            not row.get("until") or day <= row["until"]
        )

    parent = {a["id"]: a["parent_id"] for a in rows["areas"]}
    kind = {a["id"]: a["kind"] for a in rows["areas"]}

    def inside(area: str | None) -> bool:
        while area:
            if area == scope:
                return True
            area = parent.get(area)
        return False

    def of_kind(*kinds: str) -> list[str]:
        return [a for a in parent if kind[a] in kinds and inside(a)]

    orgs_on: dict[str, list[dict[str, Any]]] = {}
    for org in rows["party_orgs"]:
        orgs_on.setdefault(org["area_id"], []).append(org)
    org_area = {o["id"]: o["area_id"] for o in rows["party_orgs"]}
    member = {p["id"]: p.get("party_member") != "false" for p in rows["people"]}
    contacted = {
        c["household_id"] for c in rows["contacts"] if active(c) and member[c["person_id"]]
    }
    households = [h["id"] for h in rows["households"] if inside(h["building_id"])]
    sent = [d for d in rows["dispatches"] if active(d)]
    pairings = [p for p in rows["pairings"] if active(p) and inside(org_area[p["org_id"]])]
    paired = {org_area[p["org_id"]] for p in rows["pairings"] if active(p)}
    with_project = {p["pairing_id"] for p in rows["projects"]}
    leaders = {
        (e["person_id"], e["unit_id"])
        for e in rows["employments"]
        if active(e) and e.get("leadership") == "true"
    }
    concurrent = {p["org_id"] for p in rows["posts"] if active(p) and p.get("concurrent") == "true"}
    grids, buildings = of_kind("grid"), of_kind("building")
    places = of_kind("village", "community")
    committees = [
        o["id"]
        for o in rows["party_orgs"]
        if kind[o["area_id"]] in ("subdistrict", "township", "community") and inside(o["area_id"])
    ]

    def cadre(area: str, *roles: str) -> bool:
        return any(d["area_id"] == area and d["role"] in roles for d in sent)

    def branch(area: str) -> bool:
        return any(o["form"] in ("branch", "general_branch") for o in orgs_on.get(area, []))

    return {
        "grid_has_branch": (len(grids), [a for a in grids if not branch(a)]),
        "building_has_group": (len(buildings), [a for a in buildings if not orgs_on.get(a)]),
        "household_has_contact": (len(households), [h for h in households if h not in contacted]),
        "area_has_party_org": (len(places), [a for a in places if not orgs_on.get(a)]),
        "area_has_resident_cadre": (
            len(places),
            [a for a in places if not cadre(a, "resident", "first_secretary")],
        ),
        "area_has_liaison_cadre": (len(places), [a for a in places if not cadre(a, "liaison")]),
        "area_is_paired": (len(places), [a for a in places if a not in paired]),
        "pairing_has_project": (
            len(pairings),
            [p["id"] for p in pairings if p["id"] not in with_project],
        ),
        "pairing_has_responsible_leader": (
            len(pairings),
            [p["id"] for p in pairings if (p.get("responsible_id"), p["unit_id"]) not in leaders],
        ),
        "big_committee_formed": (len(committees), [o for o in committees if o not in concurrent]),
    }


def test_the_contract_rules_on_a_sample_city_match_a_plain_evaluation(
    store: Store, tmp_path: Path
) -> None:
    rows = generate("small", seed=5)
    # two gaps the generator never makes: a new community with no party org yet, and a
    # pairing whose responsible leader has no leadership post in its unit
    subdistrict = next(a for a in rows["areas"] if a["kind"] == "subdistrict")
    rows["areas"].append(
        {"id": "NEW-K", "name": "新建社区", "kind": "community", "parent_id": subdistrict["id"]}
    )
    rows["pairings"][0]["responsible_id"] = rows["people"][-1]["id"]
    list(write_bundle(rows, tmp_path / "city"))
    import_path(store, tmp_path / "city")
    for day in (DAY, date(2024, 1, 1)):
        for scope in ("C01", subdistrict["id"][:3]):
            expected = expected_gaps(rows, day.isoformat(), scope)
            report = coverage(store, rules=list(expected), as_of=day, scope=scope)
            found = {r.rule.id: (r.checked, sorted(g.id for g in r.gaps)) for r in report.results}
            assert found == {r: (n, sorted(ids)) for r, (n, ids) in expected.items()}, (day, scope)
    everywhere = expected_gaps(rows, DAY.isoformat(), "C01")
    assert all(ids for ids in everywhere.values())  # every rule has gaps to find


@pytest.mark.parametrize("store_kind", ["neo4j"])
def test_every_pack_gives_one_report_on_both_stores(store: Store, tmp_path: Path) -> None:
    """The two translations of every rule of every pack, Cypher on Neo4j and SQL on the
    embedded store, agree rule by rule, as of two days, in and out of a scope (the
    contract's rules are also checked against a plain evaluation, above)."""
    from grassroots.graph.duck import DuckStore

    rows = generate("small", seed=7)
    list(write_bundle(rows, tmp_path / "city"))
    import_path(store, tmp_path / "city")
    reference = DuckStore(tmp_path / "reference")
    import_path(reference, tmp_path / "city")
    subdistrict = next(a["id"] for a in rows["areas"] if a["kind"] == "subdistrict")
    for day in (DAY, date(2024, 1, 1)):
        for scope in (None, subdistrict):
            ours = coverage(store, as_of=day, scope=scope).to_json()
            theirs = coverage(reference, as_of=day, scope=scope).to_json()
            for mine, expected in zip(ours["rules"], theirs["rules"], strict=True):
                assert mine == expected, (mine["id"], day, scope)
    reference.close()


# -- the packs as knowledge -------------------------------------------------------------------


def test_every_quote_occurs_verbatim_in_its_source() -> None:
    for pack in load_packs().values():
        for rule in pack.rules:
            source = (SOURCES / rule.source.file).read_text(encoding="utf-8")
            assert rule.source.quote in source, (rule.id, rule.source.quote)


def test_every_pack_accounts_for_every_requirement_of_its_document() -> None:
    requirements: list[dict[str, Any]] = yaml.safe_load(REQUIREMENTS.read_text(encoding="utf-8"))
    by_file: dict[str, set[str]] = {}
    for requirement in requirements:
        by_file.setdefault(requirement["source"]["file"], set()).add(requirement["id"])
    counted = accounting(load_packs())
    assert set(counted) == set(by_file)
    for file, ids in by_file.items():
        machine, total, _ = counted[file]
        assert total == len(ids), file
        assert machine <= ids
    listed = {r.id for p in load_packs().values() for r in p.rules if r.manual}
    covered = {c for p in load_packs().values() for r in p.rules for c in r.covers}
    assert listed | covered == {r["id"] for r in requirements}
    assert not listed & covered


def test_the_contract_rule_ids_are_in_their_packs() -> None:
    packs = load_packs()
    assert {r.id for r in packs["core"].rules} >= {
        "grid_has_branch",
        "building_has_group",
        "household_has_contact",
        "area_has_party_org",
    }
    assert {r.id for r in packs["dalian"].rules} >= {
        "area_has_resident_cadre",
        "area_has_liaison_cadre",
        "area_is_paired",
        "pairing_has_project",
        "pairing_has_responsible_leader",
        "big_committee_formed",
    }


def test_sources_are_the_policy_texts_byte_for_byte() -> None:
    shipped = {p.name: p.read_bytes() for p in SOURCES.glob("*.txt")}
    cited = {r["source"]["file"] for r in yaml.safe_load(REQUIREMENTS.read_text(encoding="utf-8"))}
    assert set(shipped) == cited and len(shipped) == 5
    readme = (SOURCES / "README.md").read_text(encoding="utf-8")
    recorded = dict(
        (name, digest)
        for digest, name in re.findall(r"^ {4}([0-9a-f]{64})  (\S+\.txt)$", readme, flags=re.M)
    )
    assert recorded == {name: hashlib.sha256(text).hexdigest() for name, text in shipped.items()}
    if POLICY_SOURCES.is_dir():  # the originals, where the shared folder is checked out
        originals = {p.name: p.read_bytes() for p in POLICY_SOURCES.glob("*.txt")}
        assert originals == shipped


def test_every_gap_is_named_as_describe_names_it(store: Store, tmp_path: Path) -> None:
    """A report names its gaps (the embedded store in the rules' own query) exactly as
    ``places.describe`` does: through pairings and dispatches, past a reference to
    nothing stored, and around what no query can walk to a top (a cycle, a trail
    longer than MAX_DEPTH names)."""
    from grassroots.graph.store import MAX_DEPTH, Changes
    from grassroots.queries.places import describe
    from grassroots.schema import Label, Node, RelType

    ledger = small_city()
    ledger["pairings"].append({"id": "PR2", "unit_id": "U2", "org_id": "OK", "since": "2024-01-01"})
    ledger["dispatches"].append(
        {
            "id": "DP2",
            "person_id": "P3",
            "unit_id": "U2",
            "area_id": "V",
            "role": "liaison",
            "since": "2024-01-01",
        }
    )
    parent = "OB1"
    for level in range(1, 41):  # groups on a building, each under the one before
        ledger["party_orgs"].append(
            {
                "id": f"X{level}",
                "name": f"第{level}层党小组",
                "form": "group",
                "parent_id": parent,
                "area_id": "B1",
            }
        )
        parent = f"X{level}"
    load(store, tmp_path, ledger)
    store.write(
        Changes(
            nodes=[  # past the importer's checks: two grids each within the other
                Node(
                    Label.AREA,
                    {"id": "GA", "name": "甲网格", "kind": "grid"},
                    {RelType.WITHIN: "GB"},
                ),
                Node(
                    Label.AREA,
                    {"id": "GB", "name": "乙网格", "kind": "grid"},
                    {RelType.WITHIN: "GA"},
                ),
                Node(
                    Label.AREA, {"id": "GC", "name": "", "kind": "grid"}, {RelType.WITHIN: "gone"}
                ),
            ],
            new={"GA", "GB", "GC"},
        )
    )
    report = coverage(store, as_of=DAY)
    found = {g.id: (g.name, g.path) for r in report.results for g in r.gaps}
    assert found == describe(store, list(found))
    assert found["GA"] == ("甲网格", "乙网格/甲网格")
    assert found["GC"] == ("GC", "GC")  # no name: its id; its parent is not stored
    deep = found["X40"][1].split("/")
    assert len(deep) == MAX_DEPTH and deep[-1] == "第40层党小组"
    assert found["X26"][1].split("/")[:2] == ["市委", "区委"]  # 32 names: the whole trail
    assert found["X27"][1].split("/")[0] == "区委"  # 33: the nearest 32
    assert found["PR2"] == (
        "桃源派出所—东山社区党委",
        "市委/区委/街道党工委/东山社区党委/桃源派出所—东山社区党委",
    )
    assert found["DP2"][0] == "张强(liaison)"
    for result in report.results:
        assert [(g.path, g.id) for g in result.gaps] == sorted((g.path, g.id) for g in result.gaps)


# -- what a report costs the store -----------------------------------------------------------

# the protocol's reads, and each store's own statement: a Neo4j round trip, a DuckDB query
READS = ("nodes", "links", "neighbours", "find", "tree", "descendants", "ancestors")
STATEMENTS = ("read", "query")


@pytest.fixture
def reads(store: Store) -> Iterator[Counter[str]]:
    """Every read ``store`` answers, counted: its methods are wrapped on the instance (a
    DuckDB snapshot copies them), and unwrapped afterwards (the Neo4j store outlives the
    test)."""
    calls: Counter[str] = Counter()
    names = [n for n in (*READS, *STATEMENTS) if hasattr(store, n)]
    for name in names:
        method = getattr(store, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(store, name, counted)
    yield calls
    for name in names:
        delattr(store, name)


def test_a_reports_reads_do_not_grow_with_its_gaps(
    store: Store, tmp_path: Path, reads: Counter[str]
) -> None:
    """A report reads the store once per focus at most (Neo4j: one statement for all
    the rules of a focus), then names every gap at once (a read per level of their
    trails): 300 more gaps, and 8 more areas, cost no more reads."""
    from grassroots.queries.coverage.cypher import by_focus
    from grassroots.queries.coverage.rules import select

    load(store, tmp_path, small_city())
    reads.clear()  # the import's own
    before = coverage(store, as_of=DAY)
    few = sum(reads.values())
    households = [{"id": f"HX{n}", "building_id": "B2", "name": f"2-{n:03d}"} for n in range(300)]
    grids = [
        {"id": f"GX{n}", "name": f"新{n}网格", "kind": "grid", "parent_id": "K"} for n in range(8)
    ]
    load(store, tmp_path, {"areas": grids, "households": households})
    reads.clear()
    after = coverage(store, as_of=DAY)
    had = {r.rule.id: len(r.gaps) for r in before.results}
    grown = {r.rule.id: len(r.gaps) for r in after.results}
    assert grown["household_has_contact"] == had["household_has_contact"] + 300
    assert grown["grid_has_branch"] == had["grid_has_branch"] + 8
    assert sum(reads.values()) == few, reads
    # a household's trail is 7 nodes long (household, building ... city): Neo4j climbs
    # the gaps' trails a level at a time, all gaps at once
    assert few <= len(by_focus(select(None, None))) + 7 + 6, reads
