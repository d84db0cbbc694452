"""Identity service settings (prefix ``LIKENESS_IDENTITY_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from likeness.rpc.settings import ServerSettings


class IdentitySettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_IDENTITY_", extra="ignore")

    port: int = 50051
    assets_address: str = "127.0.0.1:50052"
