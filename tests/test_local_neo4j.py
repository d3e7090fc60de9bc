"""`--store neo4j` with no NEO4J_* variables finds the server `make neo4j-start` runs
(tools/neo4j/neo4j.sh writes its URI to ``.neo4j/uri``) and says which it found; an
explicit NEO4J_URI wins; a ``.neo4j/uri`` left by a server that died is one clear line.

The server is the suite's own real Neo4j: a checkout is faked by writing its URI to a
``.neo4j/uri`` of a temporary folder, as neo4j.sh writes it, and the CLI is a real process
run in that folder."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from grassroots.graph.neo4j import Neo4jStore
from grassroots.settings import LOCAL_NEO4J_PASSWORD, Settings, local_neo4j_uri_file
from tests.conftest import neo4j_settings
from tests.ledgers import small_city, write_ledger
from tests.test_cli import GRASSROOTS
from tests.test_serve import serving

FOUND = "neo4j: using the server make neo4j-start runs at {uri} ({file})"


def bare_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a new user: no NEO4J_* variable, the store chosen by --store.
    NEO4J_PASSWORD stays only when the suite's server has another password than the one
    neo4j.sh gives by default (then it is what the user would have set for neo4j.sh)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "GRASSROOTS_"))}
    if os.environ.get("NEO4J_PASSWORD", LOCAL_NEO4J_PASSWORD) != LOCAL_NEO4J_PASSWORD:
        env["NEO4J_PASSWORD"] = os.environ["NEO4J_PASSWORD"]
    env["GRASSROOTS_DATA"] = str(tmp_path / "embedded")  # never the checkout's own
    return env


def checkout(tmp_path: Path, uri: str) -> Path:
    """A folder as `make neo4j-start` leaves a checkout: ``.neo4j/uri`` names the server."""
    folder = tmp_path / "checkout"
    (folder / ".neo4j").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / ".neo4j" / "uri").write_text(uri + "\n", encoding="utf-8")
    return folder


def stopped_uri() -> str:
    """The URI of a loopback port nobody listens on: a server that died."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"bolt://127.0.0.1:{port}"


def grassroots(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRASSROOTS, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_settings_find_the_nearest_uri_file_up_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = checkout(tmp_path, "bolt://127.0.0.1:1234")
    (folder / "docs" / "deep").mkdir(parents=True)
    for key in [k for k in os.environ if k.startswith("NEO4J_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(folder / "docs" / "deep")
    found = Settings()
    assert found.neo4j_uri == "bolt://127.0.0.1:1234"
    assert found.neo4j_password.get_secret_value() == LOCAL_NEO4J_PASSWORD
    assert found.neo4j_uri_file == folder / ".neo4j" / "uri"
    assert found.neo4j_found() == FOUND.format(
        uri="bolt://127.0.0.1:1234", file=folder / ".neo4j" / "uri"
    )

    monkeypatch.setenv("NEO4J_PASSWORD", "their-own")  # as neo4j.sh takes it too
    assert Settings().neo4j_password.get_secret_value() == "their-own"
    monkeypatch.setenv("NEO4J_URI", "bolt://elsewhere:7687")  # explicit always wins
    assert Settings().neo4j_uri == "bolt://elsewhere:7687"
    assert Settings().neo4j_found() is None
    monkeypatch.delenv("NEO4J_URI")

    other = tmp_path / "other-home"
    other.mkdir()
    monkeypatch.setenv("NEO4J_HOME_DIR", str(other))  # selects another home: none there
    assert Settings().neo4j_uri == "bolt://localhost:7687"
    (other / "uri").write_text("bolt://127.0.0.1:4321\n", encoding="utf-8")
    assert Settings().neo4j_uri == "bolt://127.0.0.1:4321"
    assert local_neo4j_uri_file(None, tmp_path) is None  # above the checkout: none

    # a server named above the checkout's root (a shared parent folder) is not asked
    inner = checkout(folder / "vendor", "bolt://127.0.0.1:9")
    (inner / ".neo4j" / "uri").unlink()
    assert local_neo4j_uri_file(None, inner) is None
    assert local_neo4j_uri_file(None, inner.parent) == folder / ".neo4j" / "uri"


def test_the_cli_in_a_checkout_uses_the_server_make_neo4j_start_runs(
    neo4j_store: Neo4jStore, tmp_path: Path
) -> None:
    neo4j_store.reset()
    uri = neo4j_settings().neo4j_uri
    folder = checkout(tmp_path, uri)
    ledger = write_ledger(tmp_path / "ledger", small_city())
    env = bare_env(tmp_path)

    result = grassroots("--store", "neo4j", "import", str(ledger), env=env, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == FOUND.format(uri=uri, file=".neo4j/uri")
    assert neo4j_store.counts()["Area"] > 0  # it wrote to that very server

    (folder / "reports").mkdir()  # a folder below the checkout finds it too
    result = grassroots("--store", "neo4j", "coverage", "--format", "json", env=env,
                        cwd=folder / "reports")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert FOUND.format(uri=uri, file=folder / ".neo4j" / "uri") in result.stderr
    assert '"rules"' in result.stdout


def test_serve_in_a_checkout_says_which_server_it_found(
    neo4j_store: Neo4jStore, tmp_path: Path
) -> None:
    neo4j_store.reset()
    uri = neo4j_settings().neo4j_uri
    home = checkout(tmp_path, uri) / ".neo4j"
    env = {**bare_env(tmp_path), "NEO4J_HOME_DIR": str(home), "GRASSROOTS_STORE": "neo4j"}
    with serving(env, tmp_path) as (url, log):
        assert httpx.get(f"{url}/healthz").json()["store"] == "neo4j"
    assert FOUND.format(uri=uri, file=home / "uri") in log.read_text(encoding="utf-8")


def test_a_uri_left_by_a_stopped_server_says_to_run_make_neo4j_start(tmp_path: Path) -> None:
    stale = stopped_uri()
    folder = checkout(tmp_path, stale)
    env = bare_env(tmp_path)
    for command in (["coverage"], ["serve", "--port", "0"]):
        result = grassroots("--store", "neo4j", *command, env=env, cwd=folder)
        assert result.returncode == 1, result.stdout + result.stderr
        said = result.stderr.strip().splitlines()
        assert said[0] == FOUND.format(uri=stale, file=".neo4j/uri")
        assert said[1:] == [
            f"error: the Neo4j server make neo4j-start ran is not running: "
            f"{(folder / '.neo4j' / 'uri').resolve()} names {stale}, which does not answer."
            " Run make neo4j-start, or set NEO4J_URI to another server"
        ]


def test_an_explicit_neo4j_uri_wins_over_the_checkouts(
    neo4j_store: Neo4jStore, tmp_path: Path
) -> None:
    neo4j_store.reset()
    folder = checkout(tmp_path, stopped_uri())
    env = {**bare_env(tmp_path), "NEO4J_URI": neo4j_settings().neo4j_uri}
    env.setdefault("NEO4J_PASSWORD", os.environ.get("NEO4J_PASSWORD", ""))
    result = grassroots("--store", "neo4j", "coverage", env=env, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "make neo4j-start" not in result.stderr
