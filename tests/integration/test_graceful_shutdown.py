"""SIGTERM while a call is in flight: it completes, new calls are refused, the process exits 0."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from likeness.api.identity.v1 import identity_service_pb2 as pb
from likeness.sdk import IdentityClient, LikenessError
from tests.integration.slow_identity import CALL_STARTED

ROOT = Path(__file__).resolve().parents[2]
UNIT = [1.0] + [0.0] * 511


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_serving(client: IdentityClient, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited during start-up"
        try:
            if client.health(timeout_s=1.0) == 1:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.1)  # a poll interval: SERVING is what is waited on
    raise AssertionError("server did not become SERVING")


def wait_until(condition: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in time"
        time.sleep(0.02)  # a poll interval: `condition` is what is waited on


def _health_or_none(client: IdentityClient) -> int | None:
    try:
        return client.health(timeout_s=1.0)
    except grpc.RpcError:
        return None


def test_sigterm_lets_in_flight_calls_finish_and_refuses_new_ones(jwt_key, make_token, tmp_path) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "LIKENESS_IDENTITY_PORT": str(port),
        "LIKENESS_IDENTITY_JWT_KEYS": json.dumps([{"kid": jwt_key.kid, "secret": jwt_key.signing_key()}]),
        "LIKENESS_IDENTITY_SHUTDOWN_GRACE_S": "20",
        "LIKENESS_TEST_CALL_SECONDS": "2.5",
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.slow_identity"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        client = IdentityClient(f"127.0.0.1:{port}", token=make_token(), timeout_s=30)
        wait_serving(client, process)
        request = pb.CompareIdentitiesRequest(first_z_id=UNIT, second_z_id=UNIT)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(client.api.CompareIdentities, request)
            log_path = tmp_path / "server.log"
            wait_until(lambda: CALL_STARTED in log_path.read_text(errors="replace"), "the slow call's start")
            process.send_signal(signal.SIGTERM)
            wait_until(lambda: _health_or_none(client) != 1, "draining (health no longer SERVING)")
            late_client = IdentityClient(f"127.0.0.1:{port}", token=make_token(), timeout_s=5)
            with pytest.raises(LikenessError) as refused:
                late_client.api.CompareIdentities(request, wait_for_ready=False)
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
            assert in_flight.result(timeout=20).cosine_similarity == 1.0
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    logged = [
        json.loads(line)
        for line in (tmp_path / "server.log").read_text().splitlines()
        if line.startswith("{")
    ]
    finished = [entry for entry in logged if entry["message"] == "rpc finished"]
    assert any(entry["method"].endswith("/CompareIdentities") and entry["code"] == "OK" for entry in finished)
