"""`likeness up` as a user runs it: embedded PostgreSQL, local objects, data kept across starts."""

from __future__ import annotations

import contextlib
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


def _started_by(state_dir: Path) -> list[int]:
    """Processes whose environment names this state directory: everything `likeness up` started,
    the services' own children (the generator's Ray) included."""
    marker = f"LIKENESS_STATE_DIR={state_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.split(") ")[1][0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_killed_service_is_restarted_while_the_others_serve_and_nothing_outlives_up(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    ports = {name: free_port() for name in ("identity", "assets", "generator")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LIKENESS_")}
    environment.update({f"LIKENESS_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    environment["LIKENESS_STATE_DIR"] = str(state_dir)
    log = tmp_path / "up.log"
    process = start_up(state_dir, environment, log)
    try:
        token = mint(state_dir, "restart-brand")
        generator_pid = _serving_pid(ports["generator"])
        # The services and what they started (the generator's Ray) are found by their environment.
        running = _started_by(state_dir)
        assert generator_pid in running and len(running) > 4
        os.kill(generator_pid, signal.SIGKILL)
        # `likeness up` reports it on its console (stderr, the log file here).
        deadline = time.monotonic() + 60
        while "stopped unexpectedly" not in log.read_text():
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
        assert "generator stopped unexpectedly (exit code -9); restarting it in 1 s" in " ".join(
            log.read_text().split()
        )
        # The others kept serving all along.
        with IdentityClient(f"127.0.0.1:{ports['identity']}", token=token) as identity:
            assert identity.health() == 1
        # And the generator serves again, as a new process.
        deadline = time.monotonic() + 180
        while _serving_pid(ports["generator"]) in (None, generator_pid):
            assert time.monotonic() < deadline, f"the generator did not come back:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
            assert process.poll() is None, log.read_text()[-3000:]
        with GeneratorClient(f"127.0.0.1:{ports['generator']}", token=token) as generator:
            while generator.health() != 1:  # NOT_SERVING until its model is ready again
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)
            with pytest.raises(LikenessError) as missing:
                generator.api.GetJob(
                    generator_pb.GetJobRequest(job_id="00000000-0000-4000-8000-000000000000")
                )
            assert missing.value.code == grpc.StatusCode.NOT_FOUND
    finally:
        assert interrupt(process) == 0
    deadline = time.monotonic() + 60
    while (left := _started_by(state_dir)) and time.monotonic() < deadline:
        os.sched_yield()
    assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in left]


def _serving_pid(port: int) -> int | None:
    """The process listening on this local TCP port, or None."""
    wanted = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(wanted) and fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for descriptor in (entry / "fd").iterdir():
                target = os.readlink(descriptor)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


@pytest.mark.s3
def test_up_uses_s3_when_configured(tmp_path: Path, s3_endpoint) -> None:

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
        client = s3_endpoint.client()
        # assets reports SERVING only once its bucket is reachable; it creates it when missing.
        assert client.bucket_exists("likeness-up")
        assert not (state_dir / "objects").exists()
    finally:
        assert interrupt(process) == 0
