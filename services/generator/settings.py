"""Generator service settings (prefix ``LIKENESS_GENERATOR_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from likeness.rpc.settings import DatabaseSettings, ServerSettings


class GeneratorSettings(ServerSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_GENERATOR_", extra="ignore")

    port: int = 50053
    database_schema: str = "generator"
    assets_address: str = "127.0.0.1:50052"
    identity_address: str = "127.0.0.1:50051"
    ray_address: str = Field(
        "", description="Ray Client address of the model's Ray cluster (ray://<head>:10001); empty: none."
    )
    serve_app_name: str = Field("video", description="The Ray Serve application that runs the model.")
