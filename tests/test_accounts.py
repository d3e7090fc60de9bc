"""Accounts and tokens kept in the store (issue 12, item 1), on both stores: made from
the CLI as an administrator would, then used against the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.queries import accounts
from grassroots.schema import Role
from tests import processes
from tests.conftest import release
from tests.ledgers import small_city, write_ledger
from tests.test_api import ADD_AREA, asker, client, data
from tests.test_cli import run

PHONE = '{ person(id: "P1") { phone } }'


def test_accounts_and_tokens_outlive_a_reset_and_stay_out_of_the_graph(store: Store) -> None:
    accounts.add_account(store, "市委组织部", Role.ADMIN, [])
    secret, token = accounts.issue_token(store, "市委组织部")
    store.reset()
    assert [a.name for a in accounts.accounts(store)] == ["市委组织部"]
    assert accounts.caller(store, secret) is not None
    assert store.counts() == {}  # kept beside the graph: counted and exported by neither
    assert secret not in str(store.records("token"))  # only the digest is kept
    assert token.digest in store.records("token")


def test_a_token_from_the_cli_opens_the_api_with_its_role(
    store: Store, env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_ledger(tmp_path / "l", small_city())
    assert run("import", str(folder), env=env).returncode == 0
    added = run("users", "add", "王编辑", "--role", "编辑", env=env)
    assert added.returncode == 0, added.stderr
    issued = run("tokens", "issue", "王编辑", "--days", "30", env=env)
    assert issued.returncode == 0, issued.stderr
    secret = issued.stdout.strip()
    assert secret.startswith("gr_") and "shown only now" in issued.stderr
    listed = run("tokens", "list", env=env)
    assert "王编辑" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout
    release(store)

    ask = asker(client(store))
    area = {"id": "G3", "name": "第3网格", "kind": "GRID", "parentId": "K"}
    assert data(ask(ADD_AREA, secret, input=area))["addArea"]["id"] == "G3"
    assert data(ask(PHONE, secret))["person"]["phone"] == "138****5678"  # no personal right


def test_viewers_read_and_only_personal_accounts_see_phones(store: Store, tmp_path: Path) -> None:
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    accounts.add_account(store, "viewer", Role.VIEWER, [])
    accounts.add_account(store, "auditor", Role.VIEWER, [], personal=True)
    viewer, _ = accounts.issue_token(store, "viewer")
    auditor, _ = accounts.issue_token(store, "auditor")
    ask = asker(client(store, api_reads_need_token=True))
    area = {"id": "G3", "name": "第3网格", "kind": "GRID", "parentId": "K"}
    assert "write" in ask(ADD_AREA, viewer, input=area)["errors"][0]["message"]
    assert data(ask(PHONE, viewer))["person"]["phone"] == "138****5678"
    assert data(ask(PHONE, auditor))["person"]["phone"] == "13812345678"


def test_wrong_revoked_expired_and_disabled_tokens_are_refused_from_the_next_request(
    store: Store,
) -> None:
    accounts.add_account(store, "a", Role.VIEWER, [])
    accounts.add_account(store, "b", Role.VIEWER, [])
    first, made = accounts.issue_token(store, "a")
    second, _ = accounts.issue_token(store, "b")
    soon, short = accounts.issue_token(store, "a", accounts.now() + timedelta(minutes=5))
    http = client(store, api_reads_need_token=True)

    def status(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return http.post("/graphql", json={"query": "{ __typename }"}, headers=headers).status_code

    assert [status(first), status(second), status(soon)] == [200, 200, 200]
    assert status(first + "x") == 401
    accounts.revoke_token(store, made.id)
    assert status(first) == 401
    assert status(soon) == 200
    assert short.expires is not None
    assert accounts.caller(store, soon, at=short.expires) is None
    assert accounts.caller(store, soon, at=short.expires - timedelta(seconds=1)) is not None
    accounts.disable_account(store, "b")
    assert status(second) == 401


def test_account_errors_are_one_line_with_what_to_do(env: dict[str, str]) -> None:
    missing = run("tokens", "issue", "nobody", env=env)
    assert missing.returncode == 1 and "users list" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert run("users", "add", "x", env=env).returncode == 0
    twice = run("users", "add", "x", env=env)
    assert twice.returncode == 1 and "exists already" in twice.stderr
    bad_role = run("users", "add", "y", "--role", "boss", env=env)
    assert bad_role.returncode != 0 and "viewer" in bad_role.stderr


def test_accounts_made_beside_a_running_serve_count_at_once(
    duck_env: dict[str, str], tmp_path: Path
) -> None:
    """serve holds the embedded store's file: the CLI's account commands go through it
    (the hand-off), and serve answers the new token, and refuses it once revoked, with
    no restart."""
    folder = write_ledger(tmp_path / "l", small_city())
    assert processes.run("import", str(folder), env=duck_env).returncode == 0
    query = {"query": PHONE}
    with processes.serving(duck_env) as (url, log, _):
        assert processes.run("users", "add", "档案室", "--personal", env=duck_env).returncode == 0
        issued = processes.run("tokens", "issue", "档案室", env=duck_env)
        secret = issued.stdout.strip()
        status, body = processes.ask(f"{url}/graphql", query, secret)
        token_id = processes.run("tokens", "list", env=duck_env).stdout.split()[0]
        revoked = processes.run("tokens", "revoke", token_id, env=duck_env)
        after, _ = processes.ask(f"{url}/graphql", query, secret)
    assert issued.returncode == 0, issued.said
    assert status == 200 and body["data"]["person"]["phone"] == "13812345678", body
    assert revoked.returncode == 0, revoked.said
    assert after == 401
    assert "Traceback" not in "".join(log)
