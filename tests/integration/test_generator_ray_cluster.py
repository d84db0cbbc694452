"""A generator whose host runs no other node of the model's Ray cluster (its own pod, in Kubernetes)
attaches to the Ray node that runs beside it (the pod's sidecar; here a `ray start --block` process the
test runs, as the kubelet would) and drives the Serve application through it. The generator starts no
Ray process of its own: the node outlives it, and when the node dies the generator exits and its job is
taken again. Ray Client addresses are refused: Ray Client cannot carry streaming handle calls."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.generator.serve_app import APP_NAME
from likeness.generator.settings import GeneratorSettings
from likeness.generator.videomodel import wait_for_node
from likeness.rpc.auth import JwtKey
from likeness.sdk import AsyncAssetsClient, AsyncGeneratorClient
from tests.assets_support import create_brand
from tests.integration.generator_support import (
    TERMINAL,
    generator_environment,
    generator_process,
    short_lease_settings,
    shot,
    submission,
    wait_for,
    wait_for_state,
)

BRAND = "acme"


def test_a_ray_client_address_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="Ray Client cannot carry Serve's streaming DeploymentHandle"):
        GeneratorSettings(ray_address="ray://likeness-model-head-svc:10001")
    with pytest.raises(ValueError, match="ray_node_temp_dir needs ray_address"):
        GeneratorSettings(ray_node_temp_dir="/ray")


@pytest.fixture
async def assets(assets_server: Any, make_token: Any) -> AsyncIterator[Any]:
    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as client:
            await create_brand(client, BRAND)
            yield server


def alive_nodes() -> dict[str, dict[str, Any]]:
    import ray

    return {node["NodeID"]: node for node in ray.nodes() if node["Alive"]}


def cluster_token() -> str:
    """The session's Ray runs with token authentication, Ray's default for a new local cluster; its
    token is in Ray's default token file."""
    assert os.environ.get("RAY_AUTH_MODE") == "token", "the session's Ray should require a token"
    return (Path.home() / ".ray" / "auth_token").read_text().strip()


class Sidecar:
    """A Ray node of the session's cluster with no CPUs or GPUs, in its own process group, as the
    generator pod's ray-node container runs it."""

    def __init__(self, token: str) -> None:
        import ray

        # A short path: Ray's unix sockets live under it, and a socket path is at most 107 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-side-"))
        command = [
            sys.executable, "-m", "ray.scripts.scripts", "start",
            f"--address={ray.get_runtime_context().gcs_address}", "--num-cpus=0", "--num-gpus=0",
            f"--object-store-memory={100 * 1024 * 1024}", f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats", "--block",
        ]  # fmt: skip
        environment = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
        self.process = subprocess.Popen(command, env=environment, start_new_session=True)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        # Whatever the node started shares its group; its raylet may outlive `ray start` by a moment.
        for pid in processes_naming_now(str(self.temp_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def processes_naming_now(temp_dir: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", temp_dir], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


async def processes_naming(temp_dir: str) -> list[int]:
    return await asyncio.to_thread(processes_naming_now, temp_dir)


@pytest.fixture
def sidecar(video_model: Any) -> Iterator[Sidecar]:
    node = Sidecar(cluster_token())
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def joining(
    assets: Any, sidecar: Sidecar, database_url: str, jwt_key: JwtKey, tmp_path: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings for in-process generators, and the environment of a generator process that attaches
    through the sidecar node (this host's other node is not its to use), with the cluster's token as
    in Kubernetes: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN."""
    import ray

    values = short_lease_settings(assets, APP_NAME, tmp_path)
    environment = generator_environment(
        values,
        database_url,
        jwt_key,
        workers="1",
        ray_address=ray.get_runtime_context().gcs_address,
        ray_node_temp_dir=str(sidecar.temp_dir),
        ray_node_wait_s="60",
        drain_delay_s="0",
        shutdown_grace_s="5",
    )
    environment.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=cluster_token())
    return values, environment


async def test_a_node_without_the_clusters_token_never_comes_up_and_the_generator_says_so(
    assets: Any, video_model: Any, database_url: str, jwt_key: JwtKey, tmp_path: Any
) -> None:
    """Ray's ports run code for whoever connects: the model's cluster requires its token. A node with a
    wrong one is turned away before it starts (its container would crash and say why); the generator
    waits its ray_node_wait_s for the node, then exits saying which node it waited for."""
    import ray

    before = alive_nodes()
    node = Sidecar("not-the-clusters-token")
    try:
        code = await asyncio.to_thread(node.process.wait, 50)
        assert code != 0
        values = short_lease_settings(assets, APP_NAME, tmp_path)
        environment = generator_environment(
            values, database_url, jwt_key, workers="1", ray_address=ray.get_runtime_context().gcs_address,
            ray_node_temp_dir=str(node.temp_dir), ray_node_wait_s="3",
        )  # fmt: skip
        log_path = tmp_path / "generator.log"
        with generator_process(environment, log_path) as process:
            exit_code = await asyncio.to_thread(process.wait, 50)
    finally:
        node.stop()
    output = log_path.read_text(errors="replace")
    assert exit_code != 0, output[-3000:]
    assert f"no Ray node came up under {node.temp_dir} within 3 s" in output, output[-3000:]
    assert set(alive_nodes()) == set(before)


def test_waiting_for_the_node_sees_its_raylet_socket(tmp_path: Path) -> None:
    assert not wait_for_node(tmp_path, 0.3, poll_s=0.05)
    sockets = tmp_path / "session_2026-12-07_00-00-00_0" / "sockets"
    sockets.mkdir(parents=True)
    (sockets / "raylet").touch()
    assert wait_for_node(tmp_path, 0.3, poll_s=0.05)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_a_generator_attaches_through_the_node_beside_it_which_outlives_it(
    stop_signal: signal.Signals,
    joining: tuple[dict[str, Any], dict[str, str]],
    sidecar: Sidecar,
    generator_server: Any,
    make_token: Any,
    tmp_path: Any,
) -> None:
    values, environment = joining
    token = make_token(brand=BRAND)
    # The in-process generator takes the submission; the job runs in the process that attaches.
    async with generator_server(**values, workers=0) as front:
        async with AsyncGeneratorClient(f"127.0.0.1:{front.port}", token=token) as api:
            job = (await api.api.SubmitGeneration(submission("joined", shot(steps=3)))).job
            log_path = tmp_path / "generator.log"
            with generator_process(environment, log_path) as process:
                done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=180)
                os.killpg(process.pid, stop_signal)
                code = await asyncio.to_thread(process.wait, 60)
    output = log_path.read_text(errors="replace")
    assert done.state == pb.JOB_STATE_SUCCEEDED, (done.error, output[-3000:])
    assert "attached to the model's Ray cluster through the node beside this process" in output
    # The sidecar's node: on this host, offering the cluster nothing to schedule on.
    (node,) = [
        node for node in alive_nodes().values() if str(sidecar.temp_dir) in node["ObjectStoreSocketName"]
    ]
    assert node["Resources"].get("CPU", 0) == 0 and node["Resources"].get("GPU", 0) == 0
    # Stopped, it drains and exits 0; killed, it is simply gone. The node is Kubernetes' to run: it
    # stays, ready for the restarted generator.
    assert code == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL), output[-3000:]
    assert sidecar.process.poll() is None
    assert node["NodeID"] in alive_nodes()


async def test_a_generator_whose_ray_node_dies_exits_and_its_job_is_taken_again(
    joining: tuple[dict[str, Any], dict[str, str]],
    sidecar: Sidecar,
    generator_server: Any,
    make_token: Any,
    tmp_path: Any,
) -> None:
    """Ray ends a driver whose node is gone, so the process cannot linger renewing the lease of a job
    it can no longer run: it exits non-zero (its pod restarts) and another worker finishes the job."""
    values, environment = joining
    log_path = tmp_path / "generator.log"
    async with generator_server(**values, workers=0) as front:
        async with AsyncGeneratorClient(f"127.0.0.1:{front.port}", token=make_token(brand=BRAND)) as api:
            job = (await api.api.SubmitGeneration(submission("node-lost", shot(steps=100)))).job
            with generator_process(environment, log_path) as process:

                async def running() -> bool:
                    current = (await api.api.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
                    return current.progress.step >= 2

                await wait_for(running, timeout_s=120, interval_s=0.1)
                # The whole node goes at once, as when its container's Ray processes are OOM-killed.
                for group in {os.getpgid(pid) for pid in await processes_naming(str(sidecar.temp_dir))}:
                    os.killpg(group, signal.SIGKILL)
                code = await asyncio.to_thread(process.wait, 60)
            assert code != 0, log_path.read_text(errors="replace")[-3000:]
            async with generator_server(**{**values, "workers": 1}):
                done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=180)
    assert done.state == pb.JOB_STATE_SUCCEEDED, done.error
