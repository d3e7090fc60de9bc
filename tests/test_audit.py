"""The audit log (issue 12, item 4), on both stores: every kind of write is recorded
with who, when, through what and each change's before and after, personal fields
masked; it survives a reset; the CLI and GraphQL read it, narrowed by area and user."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import load_workbook

from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.queries import accounts, audit
from grassroots.schema import Role
from grassroots.schema.audit import Actor, Entry
from tests import test_concurrency as concurrency
from tests.conftest import release, write_table
from tests.ledgers import small_city, two_districts, write_ledger
from tests.test_api import asker, client, data
from tests.test_cli import run

CITY = Actor(name="市委组织部", via="cli")
SECRETARY = """mutation($input: PostInput!) { savePost(input: $input) {
  __typename ... on Failure { message } } }"""


def changes(entry: Entry) -> dict[str, tuple[object, object]]:
    return {f"{c.type} {c.id}": (c.before, c.after) for c in entry.changes}


def test_an_import_keeps_who_and_each_change_with_its_before(
    store: Store, env: dict[str, str], tmp_path: Path
) -> None:
    ledger = small_city()
    folder = write_ledger(tmp_path / "l", ledger)
    release(store)
    assert run("import", str(folder), env=env).returncode == 0
    (first,) = store.audit_log()
    assert first.via == "cli" and first.action == "import" and "@" in first.actor
    rows = sum(len(rows) for rows in ledger.values())
    assert len(first.changes) == rows  # every row created, none before
    assert all(c.before is None for c in first.changes)
    person = changes(first)["Person P1"][1]
    assert person is not None  # personal fields are kept masked, as the API shows them
    assert person["phone"] == "138****5678" and person["id_number"] == "210***********123X"
    assert "13812345678" not in json.dumps([e.model_dump(mode="json") for e in store.audit_log()])

    ledger["areas"][4]["name"] = "东山一网格"  # G1 renamed: one change, with what it was
    write_ledger(folder, ledger)
    release(store)
    assert run("import", str(folder), env=env).returncode == 0
    assert run("import", str(folder), env=env).returncode == 0  # nothing changes: no entry
    entries = store.audit_log()
    assert len(entries) == 2
    assert changes(entries[1]) == {
        "Area G1": (
            {"id": "G1", "name": "东山第1网格", "kind": "grid", "WITHIN": "K"},
            {"id": "G1", "name": "东山一网格", "kind": "grid", "WITHIN": "K"},
        )
    }


def test_a_mutation_names_the_account_and_what_the_secretary_was(
    store: Store, tmp_path: Path
) -> None:
    import_path(store, write_ledger(tmp_path / "l", small_city()), actor=CITY)
    accounts.add_account(store, "桃源编辑", Role.EDITOR, ["S"])
    secret, _ = accounts.issue_token(store, "桃源编辑")
    ask = asker(client(store, api_reads_need_token=True))
    post = {"personId": "P1", "orgId": "OK", "post": "SECRETARY", "since": "2021-01-01"}
    done = ask(SECRETARY, secret, input={**post, "until": "2026-06-30"})
    assert data(done)["savePost"]["__typename"] == "Post"
    last = store.audit_log()[-1]
    assert (last.actor, last.via, last.action) == ("桃源编辑", "api", "mutation savePost")
    ((key, (before, after)),) = changes(last).items()
    assert key.startswith("HOLDS_POST P1|OK")
    assert before is not None and after is not None
    assert "until" not in before and after["until"] == "2026-06-30"
    # a write refused writes nothing, and records nothing
    refused = ask(SECRETARY, secret, input={**post, "orgId": "OC"})
    assert data(refused)["savePost"]["__typename"] != "Post"
    assert store.audit_log()[-1].id == last.id


def test_accounts_tokens_and_a_reset_are_recorded_and_the_log_outlives_the_reset(
    store: Store, env: dict[str, str], tmp_path: Path
) -> None:
    release(store)
    assert run("import", str(write_ledger(tmp_path / "l", small_city())), env=env).returncode == 0
    assert run("users", "add", "王编辑", "--role", "editor", env=env).returncode == 0
    issued = run("tokens", "issue", "王编辑", env=env)
    token_id = run("tokens", "list", env=env).stdout.split()[0]
    assert run("tokens", "revoke", token_id, env=env).returncode == 0
    assert run("users", "disable", "王编辑", env=env).returncode == 0
    assert run("reset", "--yes", env=env).returncode == 0
    actions = [e.action for e in store.audit_log()]
    assert actions == [
        "import", "users add", "tokens issue", "tokens revoke", "users disable", "reset"
    ]  # fmt: skip
    log = store.audit_log()
    assert issued.stdout.strip() not in str([e.model_dump() for e in log])  # no secret kept
    token = log[3].changes[0]
    assert token.id == token_id and token.before and token.before["revoked"] is None
    assert token.after and token.after["revoked"] is not None and "digest" not in token.after
    emptied = log[-1].changes[0]
    assert emptied.kind == "graph" and emptied.before and emptied.before["Area"] == 10
    assert store.counts() == {}


def test_the_cli_reads_the_log_by_area_user_and_day_as_table_json_and_xlsx(
    store: Store, env: dict[str, str], tmp_path: Path
) -> None:
    import_path(store, write_ledger(tmp_path / "l", two_districts()), actor=CITY)
    edit = tmp_path / "edit"
    write_table(edit, "areas", [
        {"id": "G9", "name": "东山第9网格", "kind": "grid", "parent_id": "K"},
        {"id": "G29", "name": "八一第9网格", "kind": "grid", "parent_id": "K2"},
    ])  # fmt: skip
    import_path(store, edit, actor=Actor(name="区里", via="cli"))
    release(store)
    found = run("audit", "--area", "桃源街道", "--user", "区里", "--format", "json", env=env)
    assert found.returncode == 0, found.stderr
    (entry,) = json.loads(found.stdout)
    assert [c["id"] for c in entry["changes"]] == ["G9"]  # 八一第9网格 lies in 西岗区
    table = run("audit", "--since", "2000-01-01", env=env)
    assert table.returncode == 0 and "区里" in table.stdout and "G29" in table.stdout
    later = run("audit", "--since", "2999-01-01", "--format", "json", env=env)
    assert json.loads(later.stdout) == []
    book = tmp_path / "audit.xlsx"
    assert run("audit", "--format", "xlsx", "--output", str(book), env=env).returncode == 0
    rows = list(load_workbook(book).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][1] == "谁 who" and any(r[5] == "G29" and r[6] == "name" for r in rows)
    bad = run("audit", "--since", "yesterday", env=env)
    assert bad.returncode == 1 and "--since" in bad.stderr and "Traceback" not in bad.stderr


AUDIT = """query($area: ID) { auditLog(areaId: $area, first: 5) { totalCount edges { node {
  actor via action changes(first: 100) { edges { node { type id fields { name after } } } }
} } } }"""


def test_graphql_gives_the_log_to_admins_and_an_admins_subtree_only(
    store: Store, tmp_path: Path
) -> None:
    import_path(store, write_ledger(tmp_path / "l", two_districts()), actor=CITY)
    accounts.add_account(store, "市管理", Role.ADMIN, [])
    accounts.add_account(store, "街道管理", Role.ADMIN, ["S"])
    accounts.add_account(store, "看客", Role.VIEWER, [])
    names = ("市管理", "街道管理", "看客")
    city, district, viewer = (accounts.issue_token(store, n)[0] for n in names)
    ask = asker(client(store, api_reads_need_token=True))
    assert "admin" in ask(AUDIT, viewer)["errors"][0]["message"]
    whole = data(ask(AUDIT, city))["auditLog"]
    actions = [e["node"]["action"] for e in whole["edges"]]
    assert actions == ["import"] + ["users add"] * 3 + ["tokens issue"]  # the first 5
    assert whole["totalCount"] == 7  # and two more tokens
    ids = [e["node"]["id"] for e in whole["edges"][0]["node"]["changes"]["edges"]]
    assert "K2" in ids and "K" in ids
    mine = data(ask(AUDIT, district))["auditLog"]
    assert mine["totalCount"] == 1  # the import's changes inside; no account's change
    seen = {e["node"]["id"] for e in mine["edges"][0]["node"]["changes"]["edges"]}
    assert "K" in seen and "K2" not in seen and "OD2" not in seen
    refused = ask(AUDIT, district, area="D2")
    assert "neither the id nor the name" in refused["errors"][0]["message"]
    assert data(ask(AUDIT, district, area="东山社区"))["auditLog"]["totalCount"] == 1  # by name
    full = """{ auditLog(first: 1) { edges { node { changes(first: 500) { edges { node {
      kind id before after } } } } } } }"""
    shown = data(ask(full, district))["auditLog"]["edges"][0]["node"]["changes"]["edges"]
    outside = {"C", "D", "T", "V", "D2", "S2", "K2", "G21", "OC", "OD", "OD2", "OK2", "P5"}
    outside |= {"PR3", "PJ2", "DP2"}
    for edge in shown:  # nothing outside, not even as a reference or a link's end
        change = edge["node"]
        assert change["id"] not in outside, change
        for doc in (change["before"], change["after"]):
            assert not set(map(str, (doc or {}).values())) & outside, change
    first = mine["edges"][0]["node"]["changes"]["edges"][0]["node"]
    assert {"name": "id", "after": first["id"]} in first["fields"]


def test_an_import_handed_to_serve_is_recorded_as_the_cli_user_made_it(
    duck_env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_ledger(tmp_path / "l", small_city())
    with concurrency.serving(duck_env) as (_, log, _process):
        done = concurrency.run("import", str(folder), env=duck_env)
        found = concurrency.run("audit", "--format", "json", env=duck_env)
    assert done.returncode == 0, done.said
    (entry,) = json.loads(found.stdout)
    assert entry["via"] == "cli" and "@" in entry["actor"] and len(entry["changes"]) > 20
    assert "Traceback" not in "".join(log)


def test_audit_queries_read_what_the_store_keeps(store: Store, tmp_path: Path) -> None:
    """The area filter keeps a change of a node that has moved out of the area since, by
    its before's references: G2 moves from 东山社区 to 青堆镇, and both see it."""
    import_path(store, write_ledger(tmp_path / "l", small_city()), actor=CITY)
    move = tmp_path / "move"
    grid = {"id": "G2", "name": "东山第2网格", "kind": "grid", "parent_id": "T"}
    write_table(move, "areas", [grid])
    import_path(store, move, actor=Actor(name="b", via="api"))
    for area in ("K", "T"):
        (moved,) = audit.audit_log(store, user="b", area=area)
        assert [c.id for c in moved.changes] == ["G2"]
    assert audit.audit_log(store, user="b", area="V") == []
