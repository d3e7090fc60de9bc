"""One settings object, read from the environment once; it fails fast on a bad value."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreKind(StrEnum):
    MEMORY = "memory"
    NEO4J = "neo4j"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    store: StoreKind = Field(StoreKind.MEMORY, validation_alias=_env("GRASSROOTS_STORE"))
    data: Path = Field(Path("grassroots-data"), validation_alias=_env("GRASSROOTS_DATA"))

    neo4j_uri: str = Field("bolt://localhost:7687", validation_alias=_env("NEO4J_URI"))
    neo4j_user: str = Field("neo4j", validation_alias=_env("NEO4J_USER"))
    neo4j_password: SecretStr = Field(SecretStr(""), validation_alias=_env("NEO4J_PASSWORD"))
    neo4j_database: str = Field("neo4j", validation_alias=_env("NEO4J_DATABASE"))
    # Rows per UNWIND batch; 5,000 measured best on a 2-core machine (benchmarks/).
    neo4j_batch: int = Field(5000, ge=1, validation_alias=_env("GRASSROOTS_NEO4J_BATCH"))
    # How long the driver keeps retrying a transaction on transient errors and lost
    # connections (a restart, a leader election) before giving up.
    neo4j_retry_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("GRASSROOTS_NEO4J_RETRY_SECONDS")
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
