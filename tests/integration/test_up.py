"""`likeness up` as a user runs it: embedded PostgreSQL, local objects, data kept across starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.api.identity.v1 import identity_service_pb2 as identity_pb
from likeness.sdk import AssetsClient, GeneratorClient, IdentityClient, LikenessError
from tests.integration.test_graceful_shutdown import free_port

pytestmark = pytest.mark.e2e
LIKENESS = str(Path(sys.executable).with_name("likeness"))


def start_up(state_dir: Path, environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [LIKENESS, "up", "--state-dir", str(state_dir)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == b"ready":
            return process
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"likeness up did not become ready:\n{log.read_text()[-3000:]}")


def interrupt(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


def mint(state_dir: Path, brand: str) -> str:
    result = subprocess.run(
        [LIKENESS, "token", "mint", "--brand", brand, "--state-dir", str(state_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def test_up_starts_all_services_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    ports = {name: free_port() for name in ("identity", "assets", "generator")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LIKENESS_")}
    environment.update({f"LIKENESS_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    log = tmp_path / "up.log"

    process = start_up(state_dir, environment, log)
    try:
        token = mint(state_dir, "first-brand")
        with AssetsClient(f"127.0.0.1:{ports['assets']}", token=token) as assets:
            assets.api.CreateBrand(assets_pb.CreateBrandRequest(brand_id="first-brand", display_name="First"))
        for client_class, port in (
            (IdentityClient, ports["identity"]),
            (GeneratorClient, ports["generator"]),
        ):
            with client_class(f"127.0.0.1:{port}", token=token) as client:
                assert client.health() == 1
        with GeneratorClient(f"127.0.0.1:{ports['generator']}", token=token) as generator:
            with pytest.raises(LikenessError) as missing:
                generator.api.GetJob(
                    generator_pb.GetJobRequest(job_id="00000000-0000-4000-8000-000000000000")
                )
            assert missing.value.code == grpc.StatusCode.NOT_FOUND
        with IdentityClient(f"127.0.0.1:{ports['identity']}", token=token) as identity:
            unit = [1.0] + [0.0] * 511
            comparison = identity.api.CompareIdentities(
                identity_pb.CompareIdentitiesRequest(first_z_id=unit, second_z_id=unit)
            )
            assert comparison.same_person and comparison.model_pack_id
    finally:
        assert interrupt(process) == 0
    assert (state_dir / "postgres").is_dir()

    process = start_up(state_dir, environment, log)
    try:
        with AssetsClient(f"127.0.0.1:{ports['assets']}", token=mint(state_dir, "first-brand")) as assets:
            brand = assets.api.GetBrand(assets_pb.GetBrandRequest()).brand
        assert brand.display_name == "First"
        assert brand.created_by == "local-user"
    finally:
        assert interrupt(process) == 0


@pytest.mark.s3
def test_up_uses_s3_when_configured(tmp_path: Path, s3_endpoint) -> None:
    from minio import Minio

    ports = {name: free_port() for name in ("identity", "assets", "generator")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LIKENESS_")}
    environment.update({f"LIKENESS_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    environment.update(
        {
            "LIKENESS_S3_ENDPOINT": s3_endpoint.endpoint,
            "LIKENESS_S3_ACCESS_KEY": s3_endpoint.access_key,
            "LIKENESS_S3_SECRET_KEY": s3_endpoint.secret_key,
            "LIKENESS_S3_REGION": s3_endpoint.region,
            "LIKENESS_S3_BUCKET": "likeness-up",
        }
    )
    state_dir = tmp_path / "state"
    process = start_up(state_dir, environment, tmp_path / "up.log")
    try:
        client = Minio(
            s3_endpoint.endpoint,
            access_key=s3_endpoint.access_key,
            secret_key=s3_endpoint.secret_key,
            region=s3_endpoint.region,
            secure=False,
        )
        # assets reports SERVING only once its bucket is reachable; it creates it when missing.
        assert client.bucket_exists("likeness-up")
        assert not (state_dir / "objects").exists()
    finally:
        assert interrupt(process) == 0
