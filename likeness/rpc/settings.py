"""Settings every gRPC service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from likeness.rpc.auth import JwtKey

MIB = 1024 * 1024


class ServerSettings(BaseSettings):
    """gRPC edge settings. Subclasses set ``env_prefix`` to ``LIKENESS_<SERVICE>_``."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 inside a container.")
    port: int = Field(0, ge=0, le=65535, description="TCP port; 0 picks a free one (tests).")
    max_receive_message_bytes: int = Field(16 * MIB, ge=1024)
    max_send_message_bytes: int = Field(16 * MIB, ge=1024)
    max_concurrent_rpcs: int | None = Field(None, ge=1)
    keepalive_time_s: float = Field(60.0, gt=0, description="Ping an idle connection this often.")
    keepalive_timeout_s: float = Field(20.0, gt=0, description="Close it if a ping goes unanswered.")
    min_client_ping_interval_s: float = Field(10.0, gt=0, description="Refuse pings more often.")
    shutdown_grace_s: float = Field(30.0, ge=0, description="How long in-flight calls may run on.")
    drain_delay_s: float = Field(
        0.0,
        ge=0,
        description="After SIGTERM, keep answering (health NOT_SERVING) this long so load balancers "
        "stop routing here before new calls are refused.",
    )
    freeze_gc_after_start: bool = Field(
        True,
        description="Once serving, move every object alive (modules, models, pools) out of the garbage "
        "collector's reach, so its full collections walk only what requests leave behind (shorter pauses "
        "in the latency tail).",
    )
    jwt_keys: list[JwtKey] = Field(
        default_factory=list, description="Keys that verify bearer tokens (JSON list)."
    )
    jwt_issuer: str = "likeness"
    page_token_secret: SecretStr = Field(
        SecretStr(""),
        description="Signs page tokens; the same on every replica of every service (unset: each process "
        "draws its own, and a token is good only where it was made).",
    )
    jwt_max_lifetime_s: float = Field(
        24 * 3600.0, gt=0, description="Bearer tokens issued for longer than this (exp - iat) are refused."
    )
    log_level: str = "INFO"


class DatabaseSettings(BaseSettings):
    """Settings of a service that owns tables in PostgreSQL (mixed into its settings class)."""

    database_url: str = Field("", description="libpq URI of the service's database, as the service's role.")
    migration_database_url: SecretStr = Field(
        SecretStr(""),
        description="libpq URI as the role that owns the service's schema: migrations run as it, and it "
        "grants database_url's role only reading and writing rows (insert-only on the audit log). Empty: "
        "database_url's role migrates and owns the schema.",
    )
    database_schema: str = Field(description="The schema this service's tables live in.")
    pool_min_size: int = Field(1, ge=1)
    pool_max_size: int = Field(10, ge=1)
    database_connect_timeout_s: float = Field(30.0, gt=0)
    pool_check_idle_s: float = Field(
        5.0,
        ge=0,
        description="A pooled connection idle longer than this is checked (SELECT 1) before use; "
        "busier ones are handed out at once.",
    )
