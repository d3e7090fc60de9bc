"""Coverage rules on both stores, against hand-built graphs whose answers are known."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from grassroots.errors import NotFound, RuleError
from grassroots.graph.memory import MemoryStore
from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.queries.coverage import coverage, load_packs
from grassroots.queries.coverage.report import accounting
from grassroots.sample.city import generate, write_bundle
from tests.ledgers import Ledger, small_city, write_ledger

DAY = date(2026, 6, 30)
SOURCES = Path(__file__).resolve().parents[1] / "grassroots" / "queries" / "coverage" / "sources"
REQUIREMENTS = Path(__file__).parent / "data" / "policy-requirements.yaml"


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
    with pytest.raises(NotFound, match="names no area"):
        coverage(city, scope="NOWHERE")
    with pytest.raises(NotFound, match="not an area or party org"):
        coverage(city, scope="H1")


# -- the report --------------------------------------------------------------------------------


def test_the_json_report_has_the_contract_shape(city: Store) -> None:
    data = coverage(city, packs=["core"], as_of=DAY).to_json()
    assert set(data) == {"as_of", "scope", "rules"}
    assert data["as_of"] == "2026-06-30" and data["scope"] is None
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
        "gaps",
    }
    assert set(rule["source"]) == {"document", "clause", "quote"}
    assert (rule["checked"], rule["satisfied"], rule["ratio"]) == (2, 1, 0.5)
    assert rule["gaps"] == [
        {
            "id": "G2",
            "name": "东山第2网格",
            "path": "大连市/中山区/桃源街道/东山社区/东山第2网格",
            "message": rule["gaps"][0]["message"],
        }
    ]
    assert rule["gaps"][0]["message"]


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


# -- both stores agree on a whole city --------------------------------------------------------


def test_both_stores_give_the_same_report_on_the_sample_city(store: Store, tmp_path: Path) -> None:
    list(write_bundle(generate("small", seed=5), tmp_path / "city"))
    import_path(store, tmp_path / "city")
    memory = MemoryStore(tmp_path / "memory")
    import_path(memory, tmp_path / "city")
    for day in (DAY, date(2024, 1, 1)):
        ours = coverage(store, as_of=day, scope="D01").to_json()
        assert ours == coverage(memory, as_of=day, scope="D01").to_json()
        assert any(r["gaps"] for r in ours["rules"])


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


def test_sources_are_copied_from_the_policy_folder_unchanged() -> None:
    shipped = sorted(p.name for p in SOURCES.glob("*.txt"))
    assert len(shipped) == 5
    assert shipped == sorted(
        {r["source"]["file"] for r in yaml.safe_load(REQUIREMENTS.read_text(encoding="utf-8"))}
    )
