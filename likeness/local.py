"""Embedded defaults for one machine: where state lives, the local signing key, the local ports."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from likeness.rpc.auth import JwtKey


class LocalSettings(BaseSettings):
    """Settings of ``likeness up`` (prefix ``LIKENESS_``); each service still has its own."""

    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore")

    state_dir: Path = Field(default_factory=lambda: platformdirs.user_state_path("likeness"))
    database_url: str | None = Field(None, description="Use this PostgreSQL instead of the embedded one.")
    s3_endpoint: str | None = Field(None, description="host:port of S3/MinIO; unset = local directory.")
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "likeness"
    s3_region: str | None = None
    s3_secure: bool = False
    host: str = "127.0.0.1"
    identity_port: int = 50051
    assets_port: int = 50052
    generator_port: int = 50053

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def objects_dir(self) -> Path:
        return self.state_dir / "objects"

    @property
    def key_file(self) -> Path:
        return self.state_dir / "jwt-key.json"


def local_signing_key(settings: LocalSettings) -> JwtKey:
    """The HS256 key local services trust, created on first use, readable by this user only."""
    path = settings.key_file
    if path.exists():
        return JwtKey.model_validate_json(path.read_text())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    key = {"kid": f"local-{secrets.token_hex(4)}", "algorithm": "HS256", "secret": secrets.token_urlsafe(48)}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(key, handle)
    return JwtKey.model_validate(key)


def jwt_keys_json(key: JwtKey) -> str:
    return json.dumps([{"kid": key.kid, "algorithm": key.algorithm, "secret": key.signing_key()}])
