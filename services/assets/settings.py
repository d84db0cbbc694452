"""Assets service settings (prefix ``LIKENESS_ASSETS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from likeness.rpc.settings import MIB, DatabaseSettings, ServerSettings


class AssetsSettings(ServerSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_ASSETS_", extra="ignore")

    port: int = 50052
    database_schema: str = "assets"
    object_store_dir: Path | None = Field(None, description="Local object store (used when no S3 endpoint).")
    s3_endpoint: str | None = Field(None, description="host:port of S3/MinIO.")
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "likeness"
    s3_region: str | None = None
    s3_secure: bool = True
    max_upload_bytes: int = Field(50 * MIB, ge=1024, description="Largest object one upload may store.")
