"""One settings object, read from the environment once; it fails fast on a bad value."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from grassroots.errors import ConfigError

EMBEDDED_ALIASES = frozenset({"memory", "duckdb"})
"""The embedded store's earlier names, which planners' scripts still pass."""


LOCAL_NEO4J_PASSWORD = "grassroots-test"
"""The password tools/neo4j/neo4j.sh (`make neo4j-start`) gives its server by default."""


def local_neo4j_uri_file(home: Path | None = None, start: Path | None = None) -> Path | None:
    """The file in which the server `make neo4j-start` runs wrote its URI: ``home/uri``
    when NEO4J_HOME_DIR names its home, else ``.neo4j/uri`` in the current directory or
    the nearest folder above it that holds one, up to the checkout's root (the folder
    holding ``.git``), so that any folder of a checkout finds the checkout's server and
    no folder outside it (a shared parent) is asked. Only a file of this user's counts:
    the password goes to the server it names. None when there is none: a stopped server
    takes its ``uri`` away, so one left behind means it died."""
    if home is not None:
        candidates = [home / "uri"]
    else:
        here = (start or Path.cwd()).resolve()
        folders = [here, *here.parents]
        root = next((i for i, f in enumerate(folders) if (f / ".git").exists()), 0)
        candidates = [folder / ".neo4j" / "uri" for folder in folders[: root + 1]]
    for candidate in candidates:
        try:
            if candidate.is_file() and _mine(candidate):
                return candidate
        except OSError:  # a folder we may not look into holds no server of ours
            continue
    return None


def _mine(path: Path) -> bool:
    getuid = getattr(os, "getuid", None)  # POSIX only; elsewhere every file counts
    return getuid is None or path.stat().st_uid == getuid()


class StoreKind(StrEnum):
    LOCAL = "local"  # the embedded store, on DuckDB (grassroots.graph.duck)
    NEO4J = "neo4j"

    @classmethod
    def _missing_(cls, value: object) -> StoreKind | None:
        return cls.LOCAL if value in EMBEDDED_ALIASES else None


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    # The coverage packs a planner checks besides core when `grassroots coverage` names
    # none: "dalian" or "dalian,shandong" (`--pack all` checks every pack). The default is
    # the contract's own regional pack, so that a report with no --pack still checks every
    # rule CONTRACT.md names (core and dalian), and no other region's numbers; an empty
    # GRASSROOTS_PACKS checks core alone.
    packs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["dalian"],
        validation_alias=_env("GRASSROOTS_PACKS"),
        # the default is known good (a test says so): checking it would load the rules
        # and their packs in every process, also those that never check coverage
        validate_default=False,
    )

    store: StoreKind = Field(StoreKind.LOCAL, validation_alias=_env("GRASSROOTS_STORE"))
    data: Path = Field(Path("grassroots-data"), validation_alias=_env("GRASSROOTS_DATA"))
    # `grassroots demo` keeps the sample city in an embedded store of its own, so that a
    # fictional city never mixes with a planner's ledger in `data` or in Neo4j.
    demo_data: Path = Field(Path("grassroots-demo"), validation_alias=_env("GRASSROOTS_DEMO_DATA"))

    neo4j_uri: str = Field("bolt://localhost:7687", validation_alias=_env("NEO4J_URI"))
    neo4j_user: str = Field("neo4j", validation_alias=_env("NEO4J_USER"))
    neo4j_password: SecretStr = Field(SecretStr(""), validation_alias=_env("NEO4J_PASSWORD"))
    neo4j_database: str = Field("neo4j", validation_alias=_env("NEO4J_DATABASE"))
    # Where `make neo4j-start` keeps its server (tools/neo4j/neo4j.sh); without NEO4J_URI
    # the URI it wrote there is used (local_neo4j_uri_file), and said so on stderr.
    neo4j_home: Path | None = Field(None, validation_alias=_env("NEO4J_HOME_DIR"))
    _neo4j_uri_file: Path | None = PrivateAttr(None)
    # Rows per UNWIND batch, and per page an import reads of the store. A district import
    # into Neo4j (107k rows, 2 cores, one run each, in this order): 1,000 -> 23.8 s (cold
    # JVM), 5,000 -> 15.1 s, 20,000 -> 13.9 s; larger batches measured no faster.
    neo4j_batch: int = Field(20000, ge=1, validation_alias=_env("GRASSROOTS_NEO4J_BATCH"))
    # An import up to this many rows is one transaction, all or nothing; a larger one (a
    # whole city) is committed in parts of this size, which a re-run completes.
    neo4j_tx_rows: int = Field(200_000, ge=1, validation_alias=_env("GRASSROOTS_NEO4J_TX_ROWS"))
    # How long the driver keeps retrying a transaction on transient errors and lost
    # connections (a restart, a leader election) before giving up.
    neo4j_retry_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("GRASSROOTS_NEO4J_RETRY_SECONDS")
    )
    # How long an import waits for another import that is writing to the same store
    # (either store) before it gives up with a clear message.
    lock_seconds: float = Field(60.0, ge=0, validation_alias=_env("GRASSROOTS_LOCK_SECONDS"))

    # The API. Tokens are "token=grant,grant;token=grant" with the grants read, write
    # (mutations) and personal (phone and id numbers in full).
    api_tokens: SecretStr = Field(SecretStr(""), validation_alias=_env("GRASSROOTS_API_TOKENS"))
    api_reads_need_token: bool = Field(
        False, validation_alias=_env("GRASSROOTS_API_READS_NEED_TOKEN")
    )
    api_max_depth: int = Field(12, ge=2, validation_alias=_env("GRASSROOTS_API_MAX_DEPTH"))
    api_max_aliases: int = Field(30, ge=1, validation_alias=_env("GRASSROOTS_API_MAX_ALIASES"))
    api_max_page: int = Field(500, ge=1, validation_alias=_env("GRASSROOTS_API_MAX_PAGE"))
    # What one request may take (docs/api.md, "Limits"): the estimated cost of a query
    # (values resolved, page sizes multiplied along each path), its body, its run time.
    api_max_cost: int = Field(100_000, ge=1, validation_alias=_env("GRASSROOTS_API_MAX_COST"))
    api_max_body_bytes: int = Field(
        262_144, ge=1024, validation_alias=_env("GRASSROOTS_API_MAX_BODY_BYTES")
    )
    # Threads for the API's sync store reads (the embedded store's; a report or a link
    # path runs on the loop's default executor); more reads than this wait for one, off
    # the event loop.
    api_read_threads: int = Field(8, ge=1, validation_alias=_env("GRASSROOTS_API_READ_THREADS"))
    api_time_limit: float = Field(10.0, gt=0, validation_alias=_env("GRASSROOTS_API_TIME_LIMIT"))

    # Import limits (docs/ledger.md): the longest cell, in characters (an Excel cell holds
    # at most 32,767); what an .xlsx may unpack to, in MB of 2**20 bytes, checked before
    # it is parsed; and how many rows a workbook may hold (Excel's own sheet maximum).
    max_cell_chars: int = Field(100_000, ge=1, validation_alias=_env("GRASSROOTS_MAX_CELL_CHARS"))
    max_xlsx_mb: float = Field(200.0, gt=0, validation_alias=_env("GRASSROOTS_MAX_XLSX_MB"))
    max_xlsx_rows: int = Field(1_048_576, ge=1, validation_alias=_env("GRASSROOTS_MAX_XLSX_ROWS"))

    @field_validator("packs", mode="before")
    @classmethod
    def _known_packs(cls, value: object) -> object:
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        if isinstance(value, list) and value:
            from grassroots.queries.coverage.rules import pack_names

            known = pack_names()
            for name in value:
                if name not in known and name != "all":  # all: as `--pack all`
                    raise PydanticCustomError(
                        "unknown_pack",
                        "unknown pack '{name}'; the packs are {known}, separated by commas",
                        {"name": name, "known": ", ".join(known)},
                    )
        return value

    @model_validator(mode="after")
    def _local_neo4j(self) -> Settings:
        """Without NEO4J_URI, the server `make neo4j-start` runs, when it wrote its URI
        (and its password unless NEO4J_PASSWORD names another, as neo4j.sh takes it)."""
        if "neo4j_uri" in self.model_fields_set:  # an explicit NEO4J_URI always wins
            return self
        found = local_neo4j_uri_file(self.neo4j_home)
        try:
            uri = found.read_text(encoding="utf-8").strip() if found else ""
        except OSError:
            uri = ""
        if found and uri:
            self.neo4j_uri = uri
            if "neo4j_password" not in self.model_fields_set:
                self.neo4j_password = SecretStr(LOCAL_NEO4J_PASSWORD)
            self._neo4j_uri_file = found
        return self

    @property
    def neo4j_uri_file(self) -> Path | None:
        """The ``.neo4j/uri`` file ``neo4j_uri`` was read from, or None (NEO4J_URI, or
        the default address)."""
        return self._neo4j_uri_file

    def neo4j_found(self) -> str | None:
        """The line that tells a user which server they got when they named none."""
        if self._neo4j_uri_file is None:
            return None
        return (
            f"neo4j: using the server make neo4j-start runs at {self.neo4j_uri}"
            f" ({_shown(self._neo4j_uri_file)})"
        )

    def grants(self) -> dict[str, frozenset[str]]:
        """token -> grants, from ``api_tokens``; a malformed entry fails fast."""
        out: dict[str, frozenset[str]] = {}
        for entry in filter(
            None, (e.strip() for e in self.api_tokens.get_secret_value().split(";"))
        ):
            token, _, grants = entry.partition("=")
            names = frozenset(g.strip() for g in grants.split(",") if g.strip())
            unknown = names - {"read", "write", "personal"}
            if not token.strip() or unknown:
                raise ConfigError(
                    "GRASSROOTS_API_TOKENS must read token=read,write,personal;token=read"
                )
            out[token.strip()] = names | {"read"}
        return out


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment (and ``overrides``), or one clear ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            info = Settings.model_fields.get(field)
            alias = info.validation_alias if info else None
            names = getattr(alias, "choices", None) or [field]
            problems.append(f"{names[0]}: {error['msg']}")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None
