"""Generator service settings (prefix ``LIKENESS_GENERATOR_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from likeness.rpc.settings import ServerSettings


class GeneratorSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_GENERATOR_", extra="ignore")

    port: int = 50053
    database_url: str = Field("", description="libpq URI of the job database.")
    database_schema: str = "generator"
    pool_min_size: int = Field(1, ge=1)
    pool_max_size: int = Field(10, ge=1)
    database_connect_timeout_s: float = Field(30.0, gt=0)
    assets_address: str = "127.0.0.1:50052"
    identity_address: str = "127.0.0.1:50051"
