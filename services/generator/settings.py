"""Generator service settings (prefix ``LIKENESS_GENERATOR_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from likeness.rpc.settings import DatabaseSettings, ServerSettings


class GeneratorSettings(ServerSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_GENERATOR_", extra="ignore")

    port: int = 50053
    database_schema: str = "generator"
    assets_address: str = "127.0.0.1:50052"
    identity_address: str = "127.0.0.1:50051"
