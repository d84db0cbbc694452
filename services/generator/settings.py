"""Generator service settings (prefix ``LIKENESS_GENERATOR_``)."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from likeness.rpc.settings import DatabaseSettings, ServerSettings


class GeneratorSettings(ServerSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_GENERATOR_", extra="ignore")

    port: int = 50053
    database_schema: str = "generator"
    assets_address: str = "127.0.0.1:50052"
    identity_address: str = "127.0.0.1:50051"
    ray_address: str = Field(
        "",
        description="GCS address (<head>:6379) of the model's Ray cluster; empty: a local Ray with the tiny "
        "or local_model_dir model. Not a Ray Client (ray://) address: Ray Client cannot carry Serve's "
        "streaming handle calls.",
    )
    ray_node_temp_dir: str = Field(
        "",
        description="The --temp-dir of a Ray node of the model's cluster that runs beside this process, for "
        "it to attach to: needed where this host runs no other node of that cluster, as in the generator's "
        "own pod, where a sidecar container runs `ray start --address=<head>:6379 --num-cpus=0 --num-gpus=0 "
        "--temp-dir=DIR --block` and Kubernetes supervises it. The generator starts no Ray process.",
    )
    ray_node_ip: str = Field(
        "", description="The address other Ray nodes reach that node at (the pod IP); empty: Ray's choice."
    )
    ray_node_wait_s: float = Field(
        120.0, gt=0, le=3600, description="How long to wait at start-up for that node's raylet to be up."
    )
    serve_app_name: str = Field("video", description="The Ray Serve application that runs the model.")
    local_ray_cpus: int = Field(
        2, ge=1, description="CPUs of the local Ray started when ray_address is empty."
    )
    local_model_dir: str = Field(
        "",
        description="With an empty ray_address: the Wan 2.2 diffusers pipeline directory (model_index.json; "
        "optional vace/ and identity adapter) the local Ray serves; empty: the tiny random-weights model.",
    )
    local_weights_uri: str = Field(
        "", description="s3://bucket/prefix mirrored into local_model_dir first; empty: it holds the weights."
    )
    local_adapter_path: str = Field(
        "", description="The identity adapter's safetensors file; empty: local_model_dir's, if it has one."
    )
    local_replicas: int = Field(1, ge=1, description="Model replicas of the local Serve application.")
    local_max_queued_requests: int = Field(
        8,
        ge=-1,
        description="Requests waiting per caller before the local model refuses more; -1: unbounded.",
    )
    local_gpus_per_replica: float = Field(
        0, ge=0, description="GPUs of each local replica; a replica spreads the experts over them."
    )
    frame_size: tuple[int, int] | None = Field(
        None,
        description="Render every shot at this (height, width) instead of its resolution: for tiny test "
        "models on the CPU, never for real output.",
    )
    workers: int = Field(2, ge=0, description="Job workers in this process (0: accept jobs, run none).")
    lease_s: float = Field(30.0, gt=0, description="A worker's lease on a job; renewed by heartbeats.")
    heartbeat_s: float = Field(5.0, gt=0, description="How often a worker renews its lease (< lease_s).")
    poll_s: float = Field(1.0, gt=0, description="How often an idle worker looks for a job.")
    max_attempts: int = Field(
        3, ge=1, description="How often a job may be taken after retriable failures before it fails."
    )
    retry_backoff_s: float = Field(
        2.0,
        ge=0,
        description="Seconds before a job whose attempt stopped (a lost replica) is retried, doubling "
        "with each attempt: time for Serve to replace the replica.",
    )
    max_queued_jobs: int = Field(
        1000, ge=1, description="Submissions beyond this many queued jobs are refused."
    )
    max_queued_jobs_per_brand: int = Field(
        100,
        ge=1,
        description="A brand's submissions beyond this many of its own queued jobs are refused, so that "
        "one brand cannot fill the queue for the others (workers also take brands in turn).",
    )
    max_running_jobs_per_brand: int = Field(
        0,
        ge=0,
        description="How many of one brand's jobs workers run at once; 0: no limit (brands still take "
        "turns). A brand's own limits (SetBrandQuota) replace this and max_queued_jobs_per_brand for it.",
    )
    watch_poll_s: float = Field(
        0.5, gt=0, description="How often WatchJob looks for events of other replicas."
    )
    progress_interval_s: float = Field(
        0.5, ge=0, description="At most one stored PROGRESS event per interval."
    )
    qa_similarity_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Default QA threshold on a character's mean identity similarity."
    )
    qa_max_no_face_fraction: float = Field(
        0.5, ge=0.0, le=1.0, description="A shot is flagged when a character's face is missing more often."
    )
    qa_sample_frames: int = Field(16, ge=0, le=256, description="Frames ScoreVideo samples per clip.")
    default_negative_prompt: str = "blurry, low quality, distorted face, extra limbs, watermark, text"
    service_token_ttl_s: float = Field(
        600.0, gt=30, description="Lifetime of the tokens it calls peers with."
    )
    peer_timeout_s: float = Field(120.0, gt=0, description="Deadline of calls to assets and identity.")
    c2pa_certificate_path: Path | None = Field(
        None, description="PEM certificate chain (end-entity first) that signs C2PA manifests."
    )
    c2pa_private_key_path: Path | None = Field(
        None, description="PEM private key (ES256) of that certificate."
    )
    c2pa_trust_anchor_path: Path | None = Field(
        None, description="Root certificate to trust when reading back."
    )
    c2pa_dev_dir: Path = Field(
        default_factory=lambda: platformdirs.user_state_path("likeness") / "c2pa",
        description="Where the development signing chain is made when no certificate is configured.",
    )

    @model_validator(mode="after")
    def _ray_address_is_a_cluster(self) -> GeneratorSettings:
        if self.ray_address.startswith("ray://"):
            raise ValueError(
                f"ray_address {self.ray_address!r} is a Ray Client address, and Ray Client cannot carry "
                "Serve's streaming DeploymentHandle calls; give the GCS address of the cluster's head "
                "(<head>:6379), with ray_node_temp_dir where this host runs no other Ray node of that cluster"
            )
        if self.ray_node_temp_dir and not self.ray_address:
            raise ValueError("ray_node_temp_dir needs ray_address (the cluster that node belongs to)")
        return self

    @model_validator(mode="after")
    def _local_weights_need_a_directory(self) -> GeneratorSettings:
        if not self.local_model_dir and (self.local_weights_uri or self.local_adapter_path):
            raise ValueError("local_weights_uri and local_adapter_path need local_model_dir")
        return self
