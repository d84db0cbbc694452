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
    identity_cache_entries: int = Field(
        10_000, ge=0, description="Identity versions kept in the in-process cache; 0 turns it off."
    )
    identity_cache_ttl_s: float = Field(60.0, ge=0, description="How long a cached identity stays fresh.")
    collision_threshold: float = Field(
        0.5,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity to another brand's identity at which a new version waits for review.",
    )
    search_ef: int = Field(100, ge=1, le=1000, description="HNSW ef_search for likeness search.")
    orphan_sweep_interval_s: float = Field(
        3600.0, ge=0, description="How often stored bytes no row points to are looked for; 0: never."
    )
    orphan_grace_s: float = Field(
        86400.0, ge=0, description="How old unreferenced bytes must be before the sweep deletes them."
    )
    audit_checkpoint_key: SecretStr | None = Field(
        None,
        description="HMAC key (at least 16 bytes) that signs the audit chain checkpoints kept in the object "
        "store; the database never holds it. Unset: no checkpoints, and a chain rewritten or cut short by "
        "the database's owner still verifies.",
    )
    audit_checkpoint_interval_s: float = Field(
        60.0,
        ge=0,
        description="How often each brand's grown audit chain is checkpointed; removing the newest events "
        "within this window goes unseen. 0: only after each VerifyAuditChain.",
    )
    read_audit_async_commit: bool = Field(
        True,
        description="Commit the audit events of embedding reads and likeness searches without waiting for "
        "the WAL flush. A database crash can then lose the last few hundred milliseconds of such events "
        "(never writes, never a link in the middle of the chain); turn off to make every read wait for its "
        "event to be durable.",
    )
