"""The GraphQL API on both stores: the contract's operations, limits, tokens, masking,
mutations with typed failures, no N+1, and a committed SDL that cannot drift."""

from __future__ import annotations

import csv
import importlib
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from grassroots.api.app import create_app
from grassroots.api.schema import build_schema
from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.settings import Settings
from tests.ledgers import Ledger, small_city, write_ledger

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ledger-zh"
TOKENS = "writer=write;auditor=read,personal;reader=read"

Ask = Callable[..., dict[str, Any]]


def client(store: Store, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(api_tokens=TOKENS, **settings), store))


def asker(http: TestClient) -> Ask:
    def ask(query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return ask


@pytest.fixture
def ask(store: Store, tmp_path: Path) -> Ask:
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    return asker(client(store))


def data(reply: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in reply, reply
    result: dict[str, Any] = reply["data"]
    return result


# -- the contract's operations ---------------------------------------------------------


def test_pairings_by_area_org_and_unit(ask: Ask) -> None:
    query = """query($a: ID, $o: ID, $u: ID, $d: Date) {
      pairings(areaId: $a, orgId: $o, unitId: $u, asOf: $d) {
        id unit { id name kind } org { id } area { id } responsible { name }
        projects { id name status } since until } }"""
    by_area = data(ask(query, a="K", d="2026-06-30"))["pairings"]
    assert by_area == [
        {
            "id": "PR1",
            "unit": {"id": "U1", "name": "市财政局", "kind": "AGENCY"},
            "org": {"id": "OK"},
            "area": {"id": "K"},
            "responsible": {"name": "李娜"},
            "projects": [{"id": "PJ1", "name": "老旧小区改造", "status": "active"}],
            "since": "2024-01-01",
            "until": None,
        }
    ]
    assert data(ask(query, o="OK", d="2026-06-30"))["pairings"] == by_area
    assert data(ask(query, u="U1", d="2026-06-30"))["pairings"] == by_area
    assert data(ask(query, u="U2", d="2026-06-30"))["pairings"] == []
    assert data(ask(query, a="V", d="2026-06-30"))["pairings"] == []
    assert data(ask(query, a="K", d="2023-12-31"))["pairings"] == []  # before it began


def test_dispatches_by_area_unit_and_role(ask: Ask) -> None:
    query = """query($a: ID, $u: ID, $r: DispatchRole, $w: Boolean!) {
      dispatches(areaId: $a, unitId: $u, role: $r, asOf: "2026-06-30", within: $w) {
        id person { name } unit { name } area { name } role since until } }"""
    found = data(ask(query, u="U1", w=False))["dispatches"]
    assert found == [
        {
            "id": "DP1",
            "person": {"name": "李娜"},
            "unit": {"name": "市财政局"},
            "area": {"name": "东山社区"},
            "role": "RESIDENT",
            "since": "2024-01-01",
            "until": None,
        }
    ]
    assert data(ask(query, a="K", w=False))["dispatches"] == found
    assert data(ask(query, a="K", r="LIAISON", w=False))["dispatches"] == []
    assert data(ask(query, a="D", w=False))["dispatches"] == []
    assert data(ask(query, a="D", w=True))["dispatches"] == found


def test_org_chart_is_flat_with_parent_ids(ask: Ask) -> None:
    query = """{ orgChart(rootId: "OS", depth: 1) {
      id parentId name form depth childCount memberCount secretary { id name } } }"""
    chart = data(ask(query))["orgChart"]
    assert chart == [
        {
            "id": "OS",
            "parentId": None,
            "name": "街道党工委",
            "form": "WORKING_COMMITTEE",
            "depth": 0,
            "childCount": 1,
            "memberCount": None,
            "secretary": None,
        },
        {
            "id": "OK",
            "parentId": "OS",
            "name": "东山社区党委",
            "form": "COMMITTEE",
            "depth": 1,
            "childCount": 1,
            "memberCount": 40,
            "secretary": {"id": "P1", "name": "王伟"},
        },
    ]
    deeper = data(ask('{ orgChart(rootId: "OC") { id depth } }'))["orgChart"]
    assert [n["id"] for n in deeper] == ["OC", "OD", "OS"]  # depth defaults to 2


def test_org_chart_root_may_be_a_unique_name(ask: Ask) -> None:
    query = "query($r: ID!) { orgChart(rootId: $r, depth: 1) { id parentId name } }"
    by_id = data(ask(query, r="OS"))["orgChart"]
    assert [n["id"] for n in by_id] == ["OS", "OK"]
    assert data(ask(query, r="街道党工委"))["orgChart"] == by_id
    twin = """mutation { addPartyOrg(input: {id: "OG2", name: "第1网格党支部", form: BRANCH,
      parentId: "OK", areaId: "G2"}) { __typename } }"""
    assert data(ask(twin, "writer"))["addPartyOrg"] == {"__typename": "PartyOrg"}
    shared = ask(query, r="第1网格党支部")
    assert shared["data"] is None
    message = shared["errors"][0]["message"]
    assert "OG1" in message and "OG2" in message and "give the id" in message, message
    unknown = ask(query, r="西山社区党委")["errors"][0]["message"]
    assert "neither the id nor the name" in unknown, unknown
    area = ask(query, r="K")["errors"][0]["message"]  # an area is not an org
    assert "rootId 'K' is an Area, not a PartyOrg" in area, area


def test_responsible_chain(ask: Ask) -> None:
    query = "query($id: ID!) { responsibleChain(id: $id) { id } }"
    chain = lambda i: [o["id"] for o in data(ask(query, id=i))["responsibleChain"]]  # noqa: E731
    assert chain("H1") == ["OB1", "OG1", "OK", "OS", "OD", "OC"]
    assert chain("H2") == ["OK", "OS", "OD", "OC"]  # no group, no branch: up to the community
    assert chain("G2") == ["OK", "OS", "OD", "OC"]
    assert chain("V") == ["OD", "OC"]  # neither village nor township has an org
    assert chain("OG1") == ["OG1", "OK", "OS", "OD", "OC"]
    missing = ask(query, id="NOPE")
    assert missing["errors"][0]["message"].startswith("no Household or Area or PartyOrg")


def test_coverage_with_paged_gaps(ask: Ask) -> None:
    query = """query($after: String) { coverage(packs: ["core"], asOf: "2026-06-30", scope: "D") {
      asOf rules { id pack title titleZh severity source { document clause quote }
        checked satisfied ratio
        gaps(first: 1, after: $after) { totalCount edges { cursor node { id name path message } }
                                        pageInfo { hasNextPage endCursor } } } } }"""
    report = data(ask(query))["coverage"]
    assert report["asOf"] == "2026-06-30"
    area = next(r for r in report["rules"] if r["id"] == "area_has_party_org")
    assert (area["checked"], area["satisfied"], area["ratio"], area["severity"]) == (
        2,
        1,
        0.5,
        "MUST",
    )
    resident = data(
        ask("""{ coverage(rules: ["area_has_liaison_cadre"], asOf: "2026-06-30") {
      rules { gaps(first: 1) { totalCount edges { cursor node { id } }
                               pageInfo { hasNextPage endCursor } } } } }""")
    )
    page = resident["coverage"]["rules"][0]["gaps"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in page["edges"]] == ["K"]
    second = data(
        ask(
            """query($after: String) { coverage(rules: ["area_has_liaison_cadre"],
      asOf: "2026-06-30") { rules { gaps(first: 1, after: $after) { edges { node { id } }
      pageInfo { hasNextPage } } } } }""",
            after=page["pageInfo"]["endCursor"],
        )
    )
    assert second["coverage"]["rules"][0]["gaps"]["edges"] == [{"node": {"id": "V"}}]
    assert second["coverage"]["rules"][0]["gaps"]["pageInfo"]["hasNextPage"] is False


def test_a_rule_with_nothing_to_check_says_so(ask: Ask) -> None:
    query = """{ coverage(packs: ["core"], asOf: "2026-06-30", scope: "V") {
      rules { id checked ratio nothingToCheck } } }"""
    rules = {r["id"]: r for r in data(ask(query))["coverage"]["rules"]}
    # the village has no grid, no building, no household; it is itself checked
    for rule in ("grid_has_branch", "building_has_group", "household_has_contact"):
        assert rules[rule] == {"id": rule, "checked": 0, "ratio": 1.0, "nothingToCheck": True}
    assert rules["area_has_party_org"] == {
        "id": "area_has_party_org",
        "checked": 1,
        "ratio": 0.0,
        "nothingToCheck": False,
    }


def test_a_scope_given_by_name_is_reported_by_id(ask: Ask) -> None:
    query = """query($s: ID) { coverage(packs: ["core"], asOf: "2026-06-30", scope: $s) {
      scope rules { id checked gaps { totalCount } } } }"""
    by_name = data(ask(query, s="中山区"))["coverage"]
    by_id = data(ask(query, s="D"))["coverage"]
    assert by_name["scope"] == "D"
    assert by_name == by_id


def test_a_report_without_packs_checks_what_the_command_line_would(
    store: Store, tmp_path: Path
) -> None:
    from grassroots.queries.coverage.rules import load_packs

    import_path(store, write_ledger(tmp_path / "l", small_city()))
    query = '{ coverage(asOf: "2026-06-30") { packs rules { pack } } }'
    for chosen, expected in (([], ["core"]), (["shandong"], ["core", "shandong"])):
        report = data(asker(client(store, packs=chosen))(query))["coverage"]
        assert report["packs"] == expected
        assert {r["pack"] for r in report["rules"]} == set(expected)
    everything = data(
        asker(client(store))('{ coverage(packs: ["all"]) { packs rules { pack } } }')
    )["coverage"]
    assert everything["packs"] == list(load_packs())
    assert {r["pack"] for r in everything["rules"]} == set(load_packs())


def test_lookups_with_relationships(ask: Ask) -> None:
    reply = data(
        ask("""{
      area(id: "B1") { name kind parent { id } partyOrgs { id }
        households { totalCount edges { node { id contacts(asOf: "2026-06-30") {
          person { name } } } } } }
      partyOrg(id: "OK") { form parent { id } area { id } children { id }
        posts(asOf: "2026-06-30") { person { id } post concurrent since until }
        pairings(asOf: "2026-06-30") { id } reports(asOf: "2026-06-30") { person { id } } }
      unit(id: "U1") { kind level area { id } employments { person { id } leadership }
        dispatches(asOf: "2026-06-30") { id } }
      person(id: "P3") { name posts(asOf: "2026-06-30") { org { id } concurrent } }
      missing: area(id: "OK") { id } }""")
    )
    assert reply["area"] == {
        "name": "1号楼",
        "kind": "BUILDING",
        "parent": {"id": "G1"},
        "partyOrgs": [{"id": "OB1"}],
        "households": {
            "totalCount": 1,
            "edges": [{"node": {"id": "H1", "contacts": [{"person": {"name": "王伟"}}]}}],
        },
    }
    assert reply["partyOrg"]["posts"] == [
        {
            "person": {"id": "P1"},
            "post": "SECRETARY",
            "concurrent": False,
            "since": "2021-01-01",
            "until": None,
        },
        {
            "person": {"id": "P3"},
            "post": "COMMITTEE_MEMBER",
            "concurrent": True,
            "since": "2022-01-01",
            "until": None,
        },
    ]
    assert reply["partyOrg"]["reports"] == [{"person": {"id": "P2"}}]
    assert reply["unit"]["employments"] == [{"person": {"id": "P2"}, "leadership": True}]
    assert reply["person"]["posts"] == [{"org": {"id": "OK"}, "concurrent": True}]
    assert reply["missing"] is None  # an id of another kind is not found


def test_lists_filter_search_and_page(ask: Ask) -> None:
    query = """query($after: String) { areas(kind: GRID, first: 1, after: $after) {
      totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
    first = data(ask(query))["areas"]
    assert first["totalCount"] == 2
    assert [e["node"]["id"] for e in first["edges"]] == ["G1"]
    rest = data(ask(query, after=first["pageInfo"]["endCursor"]))["areas"]
    assert [e["node"]["id"] for e in rest["edges"]] == ["G2"]
    assert rest["pageInfo"]["hasNextPage"] is False
    found = data(
        ask('{ search(text: "东山") { __typename ... on Area { id } ... on PartyOrg { id } } }')
    )["search"]
    assert {"__typename": "Area", "id": "K"} in found
    assert {"__typename": "PartyOrg", "id": "OK"} in found
    units = data(ask("{ units(level: SUBDISTRICT) { edges { node { id } } } }"))["units"]
    assert units["edges"] == [{"node": {"id": "U2"}}]


# -- personal data and tokens ------------------------------------------------------------


def test_personal_data_is_masked_without_the_grant(ask: Ask) -> None:
    query = '{ person(id: "P1") { phone idNumber } }'
    assert data(ask(query))["person"] == {"phone": "138****5678", "idNumber": "210***********123X"}
    assert data(ask(query, "reader"))["person"]["phone"] == "138****5678"
    assert data(ask(query, "auditor"))["person"] == {
        "phone": "13812345678",
        "idNumber": "21020219800101123X",
    }


def _every_person_field() -> str:
    """A selection of every field of Person in the schema: new fields are checked too."""
    from graphql import get_named_type, is_leaf_type

    person = build_schema()._schema.type_map["Person"]
    fields = person.fields  # type: ignore[attr-defined]
    return " ".join(
        name if is_leaf_type(get_named_type(f.type)) else f"{name} {{ __typename }}"
        for name, f in fields.items()
    )


def _revealed(answer: str, row: dict[str, Any]) -> list[str]:
    """The parts of a person's personal values (phone, ID number, birth date) that
    ``answer`` shows: any five characters in a row, or the birth date in any form."""
    shown = []
    for key in ("phone", "id_number"):
        value = str(row.get(key) or "")
        shown += [value[i : i + 5] for i in range(len(value) - 4) if value[i : i + 5] in answer]
    if row.get("birth_date"):
        born = date.fromisoformat(str(row["birth_date"]))
        for form in (born.isoformat(), born.strftime("%Y%m%d"), born.strftime("%Y年%-m月%-d日")):
            if form in answer:
                shown.append(form)
    return shown


def test_no_personal_value_is_shown_in_part_without_the_grant(store: Store, tmp_path: Path) -> None:
    from grassroots.sample.city import generate, write_bundle

    rows = generate("tiny", seed=3)
    list(write_bundle(rows, tmp_path / "city"))
    import_path(store, tmp_path / "city")
    people = {row["id"]: row for row in rows["people"]}
    assert all(p["phone"] and p["id_number"] and p["birth_date"] for p in people.values())
    assert all(p["birth_date"].replace("-", "") == p["id_number"][6:14] for p in people.values())
    ask = asker(client(store))
    query = f"{{ people(first: 500) {{ edges {{ node {{ {_every_person_field()} }} }} }} }}"
    for token in (None, "reader"):
        nodes = [e["node"] for e in data(ask(query, token))["people"]["edges"]]
        assert sorted(n["id"] for n in nodes) == sorted(people)
        leaks = {n["id"]: _revealed(orjson.dumps(n).decode(), people[n["id"]]) for n in nodes}
        assert not {k: v for k, v in leaks.items() if v}, leaks
    shown = data(ask(query, "auditor"))["people"]["edges"]  # the test can see a leak
    assert all(_revealed(orjson.dumps(e["node"]).decode(), people[e["node"]["id"]]) for e in shown)


def test_personal_data_never_reaches_the_log(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    phone, id_number = "13812345678", "21020219800101123X"
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    ask = asker(client(store))
    with caplog.at_level("DEBUG"):
        # variables of the right types, so that every resolver runs: a search and a
        # person lookup returning the phone...
        found = ask(
            'query($t: String!) { search(text: $t) { __typename } person(id: "P1") { phone '
            "idNumber } }",
            "auditor",
            t=phone,
        )
        # ...NotFound paths whose ids are personal values...
        missing = [
            ask(f"query($p: ID!) {{ {field}: $p) {{ {answer} }} }}", "auditor", p=value)
            for value in (phone, id_number)
            for field, answer in (
                ("responsibleChain(id", "id"),
                ("orgChart(rootId", "id"),
                ("coverage(scope", "asOf"),
            )
        ]
        # ...and a value the validation rejects, which graphql-core's message quotes
        rejected = ask("query($n: Int) { areas(first: $n) { totalCount } }", n=phone)
    assert data(found) == {"search": [], "person": {"phone": phone, "idNumber": id_number}}
    assert all(reply["errors"] and reply["data"] is None for reply in missing), missing
    assert "Int cannot represent" in rejected["errors"][0]["message"]  # told, not masked
    logged = [r for r in caplog.records if r.name == "grassroots.api"]
    assert len(logged) == len(missing) + 1  # every error was logged, one line each
    assert phone not in caplog.text
    assert id_number not in caplog.text


def test_reads_can_require_a_token(store: Store) -> None:
    http = client(store, api_reads_need_token=True)
    assert http.post("/graphql", json={"query": '{ area(id: "x") { id } }'}).status_code == 401
    wrong = http.post(
        "/graphql",
        json={"query": '{ area(id: "x") { id } }'},
        headers={"Authorization": "Bearer guess"},
    )
    assert wrong.status_code == 401
    ok = asker(http)('{ area(id: "x") { id } }', "reader")
    assert ok == {"data": {"area": None}}


# -- mutations ---------------------------------------------------------------------------

ADD_AREA = """mutation($input: AreaInput!) { addArea(input: $input) { __typename
  ... on Area { id name parent { id } } ... on Failure { message problems { field } } } }"""


def test_mutations_need_the_write_grant(ask: Ask) -> None:
    area = {"id": "G3", "name": "第3网格", "kind": "GRID", "parentId": "K"}
    refused = ask(ADD_AREA, "reader", input=area)
    assert "write" in refused["errors"][0]["message"]
    done = data(ask(ADD_AREA, "writer", input=area))["addArea"]
    assert done == {"__typename": "Area", "id": "G3", "name": "第3网格", "parent": {"id": "K"}}
    again = data(ask('{ area(id: "G3") { name } }'))
    assert again == {"area": {"name": "第3网格"}}


def test_expected_failures_are_union_members(ask: Ask) -> None:
    dangling = data(
        ask(ADD_AREA, "writer", input={"id": "G3", "name": "x", "kind": "GRID", "parentId": "NOPE"})
    )["addArea"]
    assert dangling["__typename"] == "DanglingReference"
    assert dangling["problems"] == [{"field": "parent_id"}]
    out_of_order = data(
        ask(
            ADD_AREA, "writer", input={"id": "Z", "name": "x", "kind": "DISTRICT", "parentId": "G1"}
        )
    )
    assert out_of_order["addArea"]["__typename"] == "KindOutOfOrder"
    cycle = data(
        ask(
            """mutation { addPartyOrg(input: {id: "OD", name: "区委", form: COMMITTEE,
      parentId: "OB1", areaId: "D"}) { __typename ... on Failure { message } } }""",
            "writer",
        )
    )
    assert cycle["addPartyOrg"]["__typename"] == "CycleDetected"
    reversed_dates = data(
        ask(
            """mutation { saveDispatch(input: {id: "DP9", personId: "P3",
      unitId: "U1", areaId: "V", role: LIAISON, since: "2025-01-01", until: "2024-01-01"}) {
      __typename ... on Failure { problems { field message } } } }""",
            "writer",
        )
    )
    assert reversed_dates["saveDispatch"]["__typename"] == "InvalidDateRange"
    assert data(ask('{ area(id: "Z") { id } }'))["area"] is None  # nothing was written


def test_save_and_end_links_and_nodes(ask: Ask) -> None:
    saved = data(
        ask(
            """mutation { saveContact(input: {personId: "P2", householdId: "H2",
      since: "2025-01-01"}) { __typename ... on Contact { person { id } household { id } since
      until } } }""",
            "writer",
        )
    )["saveContact"]
    assert saved == {
        "__typename": "Contact",
        "person": {"id": "P2"},
        "household": {"id": "H2"},
        "since": "2025-01-01",
        "until": None,
    }
    ended = data(
        ask(
            """mutation { endContact(personId: "P2", householdId: "H2",
      since: "2025-01-01", until: "2026-03-31") { __typename ... on Contact { until } } }""",
            "writer",
        )
    )["endContact"]
    assert ended == {"__typename": "Contact", "until": "2026-03-31"}
    gone = data(
        ask(
            """mutation { endContact(personId: "P2", householdId: "H1",
      until: "2026-03-31") { __typename } }""",
            "writer",
        )
    )["endContact"]
    assert gone == {"__typename": "NothingToEnd"}
    pairing = data(
        ask(
            """mutation { endPairing(id: "PR1", until: "2026-01-31") {
      __typename ... on Pairing { until } } }""",
            "writer",
        )
    )["endPairing"]
    assert pairing == {"__typename": "Pairing", "until": "2026-01-31"}
    left = data(ask('{ pairings(areaId: "K", asOf: "2026-06-30") { id } }'))
    assert left == {"pairings": []}
    post = data(
        ask(
            """mutation { savePost(input: {personId: "P2", orgId: "OS",
      post: COMMITTEE_MEMBER, concurrent: true, since: "2025-05-01"}) {
      __typename ... on Post { post concurrent org { id } } } }""",
            "writer",
        )
    )["savePost"]
    assert post == {
        "__typename": "Post",
        "post": "COMMITTEE_MEMBER",
        "concurrent": True,
        "org": {"id": "OS"},
    }
    project = data(
        ask(
            """mutation { saveProject(input: {id: "PJ2", pairingId: "PR1",
      name: "便民服务站", status: "planned"}) { __typename ... on Project { name } } }""",
            "writer",
        )
    )["saveProject"]
    assert project == {"__typename": "Project", "name": "便民服务站"}


# -- safety ------------------------------------------------------------------------------


def test_depth_alias_and_page_limits(store: Store, tmp_path: Path) -> None:
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    ask = asker(client(store, api_max_depth=4, api_max_aliases=3, api_max_page=10))
    deep = ask('{ area(id: "B1") { parent { parent { parent { parent { name } } } } } }')
    assert "exceeds maximum operation depth" in deep["errors"][0]["message"]
    aliases = ask(
        '{ a: area(id: "K") { id } b: area(id: "K") { id } c: area(id: "K") { id } '
        'd: area(id: "K") { id } }'
    )
    assert "aliases" in aliases["errors"][0]["message"]
    page = ask("{ areas(first: 11) { totalCount } }")
    assert "first must be between 0 and 10" in page["errors"][0]["message"]
    assert data(ask("{ areas(first: 10) { totalCount } }"))["areas"]["totalCount"] == 10


# the shape of issue 15's request: 30 aliases of an in-limit nested query
NESTED_LISTS = """areas { edges { node { children { children { children {
  households(first: 500) { edges { node { contacts { person { posts { post } } } } } }
} } } } } }"""
ATTACK = "{ " + " ".join(f"a{i}: {NESTED_LISTS}" for i in range(30)) + " }"


def test_a_costly_query_is_refused_before_it_runs(
    store: Store, tmp_path: Path, round_trips: Counter[str]
) -> None:
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    ask = asker(client(store))
    ask("{ __typename }")
    round_trips.clear()
    ask("{ __typename }")  # what any request reads before its query runs (are tokens due?)
    before_any_query = sum(round_trips.values())
    round_trips.clear()
    refused = ask(ATTACK)
    assert refused["data"] is None and len(refused["errors"]) == 1
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "COST_LIMIT"
    assert error["extensions"]["limit"] == Settings().api_max_cost
    assert error["extensions"]["estimate"] > error["extensions"]["limit"]
    assert "smaller first" in error["message"] and "fewer aliases" in error["message"]
    assert sum(round_trips.values()) == before_any_query  # the query read nothing
    # the rule as docs/api.md states it: 1 + 100 edges + 100 nodes + 100 x 20 children
    # + 100 x 20 names
    documented = "{ areas(first: 100) { edges { node { children { name } } } } }"
    assert data(asker(client(store, api_max_cost=4201))(documented))["areas"]["edges"]
    over = asker(client(store, api_max_cost=4200))(documented)["errors"][0]["extensions"]
    assert (over["code"], over["estimate"]) == ("COST_LIMIT", 4201)
    by_variable = "query($n: Int) { areas(first: $n) { edges { node { children { name } } } } }"
    small = asker(client(store, api_max_cost=4200))(by_variable, n=10)
    assert data(small)["areas"]["edges"]
    fragments = """{ ...A ...A } fragment A on Query { areas(first: 100) { edges { node {
      children { name } } } } }"""
    twice = asker(client(store, api_max_cost=5000))(fragments)["errors"][0]["extensions"]
    assert twice["estimate"] == 2 * 4201  # a fragment costs each time it is spread
    chart = '{ orgChart(rootId: "OC", depth: 3) { id } }'  # 20**3 orgs, and their ids
    deep = asker(client(store, api_max_cost=15999))(chart)["errors"][0]["extensions"]
    assert deep["estimate"] == 2 * 20**3


def test_a_query_past_its_time_is_stopped_and_a_mutation_is_not(
    store: Store, tmp_path: Path
) -> None:
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    ask = asker(client(store, api_time_limit=1e-6))
    stopped = ask('{ area(id: "K") { children { households { edges { node { id } } } } } }')
    assert stopped["data"] is None and len(stopped["errors"]) == 1, stopped
    assert stopped["errors"][0]["extensions"] == {"code": "TIME_LIMIT", "limit_seconds": 1e-6}
    assert "time limit" in stopped["errors"][0]["message"]
    assert data(ask("{ __typename }")) == {"__typename": "Query"}  # no wait, nothing to stop
    area = {"id": "G3", "name": "第3网格", "kind": "GRID", "parentId": "K"}
    assert data(ask(ADD_AREA, "writer", input=area))["addArea"]["id"] == "G3"
    assert data(asker(client(store))('{ area(id: "G3") { name } }')) == {
        "area": {"name": "第3网格"}
    }


def test_a_body_over_the_limit_gets_413(store: Store) -> None:
    http = client(store, api_max_body_bytes=1024)
    query = '{ area(id: "K") { id } }'
    padded = {"query": query + " " * 2000}
    declared = http.post("/graphql", json=padded)
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"] == {"code": "BODY_LIMIT", "limit": 1024}

    def chunks() -> Iterator[bytes]:  # no Content-Length: streamed
        yield b'{"query": "{ __typename }'
        for _ in range(40):
            yield b" " * 100
        yield b'"}'

    streamed = http.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["errors"][0]["extensions"]["code"] == "BODY_LIMIT"
    assert http.post("/graphql", json={"query": query}).json() == {"data": {"area": None}}


def test_hostile_and_malformed_requests_never_get_a_500(store: Store) -> None:
    http = client(store)
    for body in (
        {"query": "{ area(id: "},
        {"query": "{ nothing }"},
        {"query": 42},
        {"query": '{ area(id: "K") { id } }', "variables": "not a map"},
        {"query": 'query { coverage(scope: "NOWHERE") { asOf } }'},
        {"query": '{ orgChart(rootId: "OS", depth: -1) { id } }'},
        {"query": '{ areas(after: "%%%") { totalCount } }'},
    ):
        response = http.post("/graphql", json=body)
        assert response.status_code in (200, 400), (body, response.status_code)
        if response.status_code == 200:
            assert response.json()["errors"], body
    broken = http.post(
        "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400


def test_graphiql_and_health(store: Store) -> None:
    http = client(store)
    page = http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert http.get("/healthz").json() == {"status": "ok", "store": store.name, "nodes": 0}


# -- no N+1: store round trips do not grow with the graph ---------------------------------


@pytest.fixture
def round_trips(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the store's round trips: every Cypher query on Neo4j, every protocol read on
    the embedded store."""
    counter: Counter[str] = Counter()
    names = (
        ["read"]
        if store.name == "neo4j"
        else ["nodes", "neighbours", "find", "links", "tree", "descendants", "ancestors"]
    )
    for name in names:
        original = getattr(store, name)

        def counted(
            *args: Any, __original: Any = original, __name: str = name, **kwargs: Any
        ) -> Any:
            counter[__name] += 1
            return __original(*args, **kwargs)

        monkeypatch.setattr(store, name, counted)
    yield counter


def _org_tree(branches: int, leaves: int) -> Ledger:
    ledger: Ledger = {"areas": [], "party_orgs": [], "people": [], "posts": []}
    ledger["areas"].append({"id": "A", "name": "区", "kind": "district"})
    ledger["party_orgs"].append({"id": "R", "name": "区委", "form": "committee", "area_id": "A"})
    for b in range(branches):
        ledger["party_orgs"].append(
            {
                "id": f"B{b}",
                "name": f"党委{b}",
                "form": "committee",
                "parent_id": "R",
                "area_id": "A",
            }
        )
        for leaf in range(leaves):
            org = f"B{b}L{leaf}"
            ledger["party_orgs"].append(
                {
                    "id": org,
                    "name": f"支部{org}",
                    "form": "branch",
                    "parent_id": f"B{b}",
                    "area_id": "A",
                }
            )
            ledger["people"].append({"id": f"P{org}", "name": f"书记{org}"})
            ledger["posts"].append({"person_id": f"P{org}", "org_id": org, "post": "secretary"})
    return ledger


NESTED = """{ orgChart(rootId: "R", depth: 2) { id parentId childCount secretary { name } }
  partyOrg(id: "R") { children { id children { id name area { name } parent { id }
    secretary { name } posts { person { name } } } } } }"""


def test_round_trips_do_not_grow_with_an_org_chart_of_500(
    store: Store, tmp_path: Path, round_trips: Counter[str]
) -> None:
    costs = []
    for size, (branches, leaves) in enumerate([(2, 3), (10, 49)]):
        store.reset()
        import_path(store, write_ledger(tmp_path / f"tree{size}", _org_tree(branches, leaves)))
        ask = asker(client(store))
        round_trips.clear()
        reply = data(ask(NESTED))
        assert len(reply["orgChart"]) == 1 + branches + branches * leaves
        costs.append(sum(round_trips.values()))
    # 9 orgs or 501: the same bound. Not the same count: a level's loads may land in two
    # batches when the reads they wait for finish on the pool's threads at different
    # moments (CI once counted 12 for 9 orgs, 11 for 501); one read per org would be 500.
    assert costs[1] <= costs[0] + 2, costs
    assert max(costs) <= 16, costs


def test_round_trips_of_a_coverage_report_are_bounded(
    store: Store, tmp_path: Path, round_trips: Counter[str]
) -> None:
    from grassroots.sample.city import generate, write_bundle

    costs = []
    for scale in ("tiny", "small"):
        store.reset()
        list(write_bundle(generate(scale, seed=2), tmp_path / scale))
        import_path(store, tmp_path / scale)
        ask = asker(client(store))
        round_trips.clear()
        reply = data(
            ask("""{ coverage(packs: ["core", "dalian"], asOf: "2026-06-30") {
          rules { id checked gaps(first: 500) { totalCount edges { node { path } } } } } }""")
        )
        assert any(r["gaps"]["totalCount"] for r in reply["coverage"]["rules"])
        costs.append(sum(round_trips.values()))
    assert costs[1] <= costs[0] + 2, costs  # bounded by rules and tree height, not by size


# -- the committed SDL and the example queries -------------------------------------------


def test_the_committed_sdl_matches_the_schema() -> None:
    committed = (REPO / "schema.graphql").read_text(encoding="utf-8")
    assert committed == build_schema().as_str() + "\n", (
        "schema.graphql is stale: run `grassroots schema --output schema.graphql`"
    )


# -- what examples/graphql/ should answer, computed from examples/ledger-zh's CSV rows with
# the contract's Chinese values (CONTRACT.md section 2), not through the importer

KIND = {"市": "CITY", "区县": "DISTRICT", "街道": "SUBDISTRICT", "乡镇": "TOWNSHIP",
        "社区": "COMMUNITY", "村": "VILLAGE", "网格": "GRID", "楼栋": "BUILDING"}  # fmt: skip
FORM = {"党委": "COMMITTEE", "党工委": "WORKING_COMMITTEE", "党总支": "GENERAL_BRANCH",
        "党支部": "BRANCH", "党小组": "GROUP"}  # fmt: skip
UNIT_KIND = {"机关": "AGENCY", "国企": "STATE_ENTERPRISE", "公安执法": "POLICE",
             "医疗卫生": "HOSPITAL"}  # fmt: skip
ROLE = {"驻村(社区)": "RESIDENT", "结对共建联络员": "LIAISON", "第一书记": "FIRST_SECRETARY"}
STATUS = {"计划": "planned", "实施中": "active", "已完成": "done"}
MID_2026 = "2026-06-30"


def _rows(table: str) -> list[dict[str, str]]:
    with (EXAMPLE / f"{table}.csv").open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def _day(text: str) -> str:
    found = re.fullmatch(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?", text.strip())
    assert found, text
    return date(*map(int, found.groups())).isoformat()


def _on(row: dict[str, str], day: str) -> bool:
    since, until = row.get("起始日期", ""), row.get("终止日期", "")
    return (not since or _day(since) <= day) and (not until or day <= _day(until))


def _by_id(table: str) -> dict[str, dict[str, str]]:
    return {row["编号"]: row for row in _rows(table)}


def _expect_coverage_gaps() -> list[Any]:
    areas, orgs = _by_id("区域"), _rows("党组织")
    grids = sorted(i for i, a in areas.items() if a["类型"] == "网格")
    branched = {o["所在区域"] for o in orgs if o["组织形式"] in ("党支部", "党总支")}
    places = sorted(i for i, a in areas.items() if a["类型"] in ("村", "社区"))
    resident = {
        d["派驻村社区"]
        for d in _rows("选派干部")
        if ROLE[d["类型"]] in ("RESIDENT", "FIRST_SECRETARY") and _on(d, MID_2026)
    }
    rules = []
    for rule, focus, ok in (
        ("grid_has_branch", grids, branched),
        ("area_has_resident_cadre", places, resident),
    ):
        gaps = sorted(i for i in focus if i not in ok)
        rules.append((rule, len(focus), len(focus) - len(gaps), len(gaps), gaps))
    return rules


def _answer_coverage_gaps(reply: dict[str, Any]) -> list[Any]:
    assert reply["coverage"]["asOf"] == MID_2026
    return [
        (
            r["id"],
            r["checked"],
            r["satisfied"],
            r["gaps"]["totalCount"],
            sorted(e["node"]["id"] for e in r["gaps"]["edges"]),
        )
        for r in reply["coverage"]["rules"]
    ]


def _expect_dispatches() -> list[Any]:
    people, areas = _by_id("人员"), _by_id("区域")
    return sorted(
        (
            d["编号"],
            ROLE[d["类型"]],
            people[d["人员编号"]]["姓名"],
            areas[d["派驻村社区"]]["名称"],
            KIND[areas[d["派驻村社区"]]["类型"]],
            _day(d["起始日期"]),
        )
        for d in _rows("选派干部")
        if d["派出单位"] == "U-CZ" and _on(d, MID_2026)
    )


def _answer_dispatches(reply: dict[str, Any]) -> list[Any]:
    return sorted(
        (d["id"], d["role"], d["person"]["name"], d["area"]["name"], d["area"]["kind"], d["since"])
        for d in reply["dispatches"]
    )


def _secretary(org: str, day: str) -> str | None:
    people = _by_id("人员")
    serving = sorted(
        (_day(p["起始日期"]) if p["起始日期"] else "", p["人员编号"])
        for p in _rows("职务")
        if p["党组织编号"] == org and p["职务"] == "书记" and _on(p, day)
    )
    return people[serving[-1][1]]["姓名"] if serving else None


def _expect_org_chart() -> list[Any]:
    orgs = _by_id("党组织")
    children = {i: sorted(c for c, o in orgs.items() if o["上级党组织"] == i) for i in orgs}
    chart, level = [], [("O-DS", None)]
    for depth in range(3):  # the root and two levels below it
        chart += [(i, parent, depth) for i, parent in level]
        level = [(c, i) for i, _ in level for c in children[i]]
    return sorted(
        (
            i,
            parent,
            orgs[i]["名称"],
            FORM[orgs[i]["组织形式"]],
            depth,
            len(children[i]),
            int(orgs[i]["党员数"]) if orgs[i]["党员数"] else None,
            _secretary(i, date.today().isoformat()),
        )
        for i, parent, depth in chart
    )


def _answer_org_chart(reply: dict[str, Any]) -> list[Any]:
    return sorted(
        (
            n["id"],
            n["parentId"],
            n["name"],
            n["form"],
            n["depth"],
            n["childCount"],
            n["memberCount"],
            (n["secretary"] or {}).get("name"),
        )
        for n in reply["orgChart"]
    )


def _expect_pairings() -> list[Any]:
    orgs, units, people, areas = _by_id("党组织"), _by_id("单位"), _by_id("人员"), _by_id("区域")
    on_hk = {i for i, o in orgs.items() if o["所在区域"] == "HK"}
    return sorted(
        (
            p["编号"],
            units[p["单位编号"]]["名称"],
            UNIT_KIND[units[p["单位编号"]]["单位类型"]],
            orgs[p["党组织编号"]]["名称"],
            areas[orgs[p["党组织编号"]]["所在区域"]]["名称"],
            people[p["责任领导"]]["姓名"] if p["责任领导"] else None,
            sorted(
                (j["名称"], STATUS[j["状态"]])
                for j in _rows("共建项目")
                if j["结对编号"] == p["编号"]
            ),
            _day(p["起始日期"]),
            _day(p["终止日期"]) if p["终止日期"] else None,
        )
        for p in _rows("结对共建")
        if p["党组织编号"] in on_hk and _on(p, MID_2026)
    )


def _answer_pairings(reply: dict[str, Any]) -> list[Any]:
    return sorted(
        (
            p["id"],
            p["unit"]["name"],
            p["unit"]["kind"],
            p["org"]["name"],
            p["area"]["name"],
            (p["responsible"] or {}).get("name"),
            sorted((j["name"], j["status"]) for j in p["projects"]),
            p["since"],
            p["until"],
        )
        for p in reply["pairings"]
    )


def _expect_responsible() -> list[Any]:
    areas, orgs = _by_id("区域"), _by_id("党组织")
    area: str | None = next(h["楼栋编号"] for h in _rows("住户") if h["编号"] == "H-101")
    built: list[str] = []
    while area and not built:  # the lowest area at or above the building with an org
        built = [i for i, o in orgs.items() if o["所在区域"] == area]
        area = areas[area]["上级编号"] or None
    assert len(built) == 1, built  # one org, so the chain below is not a choice
    chain, org = [], built[0]
    while org:
        chain.append((org, orgs[org]["名称"], FORM[orgs[org]["组织形式"]]))
        org = orgs[org]["上级党组织"]
    return chain


def _answer_responsible(reply: dict[str, Any]) -> list[Any]:
    return [(o["id"], o["name"], o["form"]) for o in reply["responsibleChain"]]


def _expect_search() -> list[Any]:
    hits = []
    for table, kind, name in (
        ("区域", "Area", "名称"),
        ("党组织", "PartyOrg", "名称"),
        ("单位", "Unit", "名称"),
        ("人员", "Person", "姓名"),
    ):
        hits += [(kind, i, r[name]) for i, r in _by_id(table).items() if "东山" in r[name]]
    assert 0 < len(hits) <= 20  # search's default page holds them all
    return sorted(hits)


def _answer_search(reply: dict[str, Any]) -> list[Any]:
    return sorted((h["__typename"], h["id"], h["name"]) for h in reply["search"])


EXAMPLES = {
    "coverage-gaps": (_expect_coverage_gaps, _answer_coverage_gaps),
    "dispatches-of-a-unit": (_expect_dispatches, _answer_dispatches),
    "org-chart": (_expect_org_chart, _answer_org_chart),
    "pairings-of-a-village": (_expect_pairings, _answer_pairings),
    "responsible-for-a-household": (_expect_responsible, _answer_responsible),
    "search": (_expect_search, _answer_search),
}


def test_every_example_has_an_expectation() -> None:
    assert sorted(p.stem for p in (REPO / "examples" / "graphql").glob("*.graphql")) == sorted(
        EXAMPLES
    )


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_example_query_answers_what_the_ledger_says(store: Store, example: str) -> None:
    import_path(store, EXAMPLE)
    text = (REPO / "examples" / "graphql" / f"{example}.graphql").read_text(encoding="utf-8")
    expect, answer = EXAMPLES[example]
    expected = expect()
    assert expected, example  # an example about nothing proves nothing
    assert answer(data(asker(client(store))(text))) == expected


def test_examples_answer_what_they_say(store: Store) -> None:
    import_path(store, EXAMPLE)
    ask = asker(client(store))
    text = (REPO / "examples" / "graphql" / "pairings-of-a-village.graphql").read_text("utf-8")
    pairings = data(ask(text))["pairings"]
    assert [(p["unit"]["name"], p["responsible"]["name"]) for p in pairings] == [
        ("大连市财政局", "王建国")
    ]
    assert date.fromisoformat(pairings[0]["since"]) == date(2023, 3, 1)


def _warnings_of_importing_the_test_client(filters: list[str]) -> list[str]:
    from _pytest.config import parse_warning_filter

    names = ("starlette.testclient", "fastapi.testclient")
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for line in filters:
                warnings.filterwarnings(*parse_warning_filter(line, escape=False))
            importlib.import_module("fastapi.testclient")
    finally:
        sys.modules.update(saved)
    return [f"{w.category.__name__}: {w.message}" for w in caught]


def test_the_warning_filter_silences_the_test_clients_notice_only(
    pytestconfig: pytest.Config,
) -> None:
    unfiltered = _warnings_of_importing_the_test_client([])
    assert any("httpx2" in w for w in unfiltered), unfiltered  # the notice exists...
    filters = pytestconfig.getini("filterwarnings")
    assert _warnings_of_importing_the_test_client(filters) == []  # ...and the filter hides it
    warnings_in_general = ["ignore::UserWarning", "ignore::DeprecationWarning", "ignore"]
    assert not set(warnings_in_general) & set(filters)  # not every warning


# -- what a front-end needs of the API (the web page, grassroots/web): where a chart's
# org stands, where a gap's mark goes, the report as a file


def test_an_org_chart_node_names_the_area_it_is_built_on(ask: Ask) -> None:
    chart = data(ask('{ orgChart(rootId: "OC", depth: 3) { id areaId } }'))["orgChart"]
    assert {n["id"]: n["areaId"] for n in chart}["OK"] == "K"
    for node in chart:  # the same as each org's own area
        org = data(ask("query($id: ID!) { partyOrg(id: $id) { area { id } } }", id=node["id"]))
        assert node["areaId"] == ((org["partyOrg"]["area"] or {}).get("id"))


def test_a_gap_names_the_ids_along_its_path(ask: Ask) -> None:
    query = """{ coverage(asOf: "2026-06-30") { rules { id gaps(first: 50) {
      edges { node { id path trail } } } } } }"""
    gaps = [e["node"] for r in data(ask(query))["coverage"]["rules"] for e in r["gaps"]["edges"]]
    assert {g["id"] for g in gaps} >= {"K", "V"}
    named = """query($id: ID!) { area(id: $id) { name } partyOrg(id: $id) { name }
      household(id: $id) { name } }"""
    for gap in gaps:
        assert gap["trail"][-1] == gap["id"]
        if gap["trail"][0] != "C":  # a pairing's trail: named by its ends, not read here
            continue
        names = [
            next(v["name"] for v in data(ask(named, id=i)).values() if v) for i in gap["trail"]
        ]
        assert "/".join(names) == gap["path"]


def test_the_report_downloads_as_the_workbook_the_command_line_writes(ask: Ask) -> None:
    import base64
    import io

    from openpyxl import load_workbook

    query = """{ coverage(packs: ["core"], asOf: "2026-06-30", scope: "D") {
      workbook rules { id checked satisfied gaps { totalCount } } } }"""
    report = data(ask(query))["coverage"]
    book = load_workbook(io.BytesIO(base64.b64decode(report["workbook"])))
    summary = book.worksheets[0]
    rows = {row[1]: row for row in summary.iter_rows(values_only=True) if row and row[1]}
    for rule in report["rules"]:
        row = rows[rule["id"]]
        assert (row[5], row[6], row[8]) == (
            rule["checked"],
            rule["satisfied"],
            rule["gaps"]["totalCount"],
        )
    assert "2026-06-30" in str(summary["A1"].value)
