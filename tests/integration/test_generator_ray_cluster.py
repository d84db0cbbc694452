"""A generator whose host runs no node of the model's Ray cluster (its own pod, in Kubernetes) joins
that cluster with a node of its own, drives the Serve application through it, and takes the node away
when it stops, or when it is killed. Ray Client addresses are refused: Ray Client cannot carry
streaming handle calls."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.generator.raynode import TEMP_PREFIX, remove_stale_temp_dirs
from likeness.generator.serve_app import APP_NAME
from likeness.generator.settings import GeneratorSettings
from likeness.rpc.auth import JwtKey
from likeness.sdk import AsyncAssetsClient, AsyncGeneratorClient
from tests.assets_support import create_brand
from tests.integration.generator_support import (
    TERMINAL,
    generator_environment,
    short_lease_settings,
    shot,
    start_generator_process,
    submission,
    wait_for,
    wait_for_state,
)

BRAND = "acme"


def test_a_ray_client_address_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="Ray Client cannot carry Serve's streaming DeploymentHandle"):
        GeneratorSettings(ray_address="ray://likeness-model-head-svc:10001")
    with pytest.raises(ValueError, match="ray_start_node needs ray_address"):
        GeneratorSettings(ray_start_node=True)


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


@pytest.fixture
def joining(
    assets: Any, video_model: Any, database_url: str, jwt_key: JwtKey, tmp_path: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings for in-process generators, and the environment of a generator process that joins the
    session's Ray with a node of its own (this host's other node is not its to use). It is given the
    cluster's token as in Kubernetes: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN."""
    import ray

    values = short_lease_settings(assets, APP_NAME, tmp_path)
    environment = generator_environment(
        values,
        database_url,
        jwt_key,
        workers="1",
        ray_address=ray.get_runtime_context().gcs_address,
        ray_start_node="true",
        ray_object_store_bytes=str(100 * 1024 * 1024),
        drain_delay_s="0",
        shutdown_grace_s="5",
    )
    environment.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=cluster_token())
    return values, environment


def ray_gen_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))


async def test_a_generator_without_the_clusters_token_is_refused_at_start_up_and_leaves_nothing(
    joining: tuple[dict[str, Any], dict[str, str]], tmp_path: Any
) -> None:
    """Ray's ports run code for whoever connects: the model's cluster requires its token. A generator
    with a wrong one is turned away by the cluster before its node starts; it says why and exits at
    once, rather than after Ray's minute-long connect timeout, and joins nothing."""
    _, environment = joining
    environment["RAY_AUTH_TOKEN"] = "not-the-clusters-token"
    before, dirs_before = alive_nodes(), ray_gen_dirs()
    log_path = tmp_path / "generator.log"
    with log_path.open("wb") as log:
        started = asyncio.get_running_loop().time()
        process = start_generator_process(environment, log)
        try:
            code = await asyncio.to_thread(process.wait, 50)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    took_s = asyncio.get_running_loop().time() - started
    output = log_path.read_text(errors="replace")
    assert code != 0, output[-3000:]
    assert "could not join the model's Ray cluster at" in output, output[-3000:]
    assert "InvalidAuthToken: Authentication token is missing or incorrect" in output, output[-3000:]
    assert took_s < 50
    assert set(alive_nodes()) == set(before)
    assert ray_gen_dirs() <= dirs_before


async def processes_naming(temp_dir: str) -> list[int]:
    found = await asyncio.to_thread(subprocess.run, ["pgrep", "-f", temp_dir], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_a_generator_joins_the_models_cluster_with_a_node_and_takes_it_away_when_it_ends(
    stop_signal: signal.Signals,
    joining: tuple[dict[str, Any], dict[str, str]],
    generator_server: Any,
    make_token: Any,
    tmp_path: Any,
) -> None:
    values, environment = joining
    before = alive_nodes()
    token = make_token(brand=BRAND)
    # The in-process generator takes the submission; the job runs in the process that joins the cluster.
    async with generator_server(**values, workers=0) as front:
        async with AsyncGeneratorClient(f"127.0.0.1:{front.port}", token=token) as api:
            job = (await api.api.SubmitGeneration(submission("joined", shot(steps=3)))).job
            log_path = tmp_path / "generator.log"
            with log_path.open("wb") as log:
                process = start_generator_process(environment, log)
                try:
                    done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=180)
                    joined = {
                        node_id: node for node_id, node in alive_nodes().items() if node_id not in before
                    }
                    os.killpg(process.pid, stop_signal)
                    code = await asyncio.to_thread(process.wait, 60)
                finally:
                    if process.poll() is None:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
    output = log_path.read_text(errors="replace")
    assert done.state == pb.JOB_STATE_SUCCEEDED, (done.error, output[-3000:])
    assert "attached to the model's Ray cluster through a node of this host" in output
    # One node joined, offering the cluster nothing to schedule on.
    assert len(joined) == 1, joined
    ((node_id, node),) = joined.items()
    assert node["NodeManagerAddress"] in {
        known["NodeManagerAddress"] for known in before.values()
    }  # this host
    assert node["Resources"].get("CPU", 0) == 0 and node["Resources"].get("GPU", 0) == 0
    # Stopped, it drains and exits 0; killed, the node's supervisor sees it gone.
    assert code == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL), output[-3000:]

    # The generator's node left the cluster either way; the model's own nodes are untouched.
    async def gone() -> bool:
        return node_id not in await asyncio.to_thread(alive_nodes)

    await wait_for(gone, timeout_s=60, interval_s=0.5)
    assert set(before) <= set(alive_nodes())
    # Nor is anything of it left on this host: no process and no session directory.
    temp_dir = Path(node["ObjectStoreSocketName"].split("/session_")[0])
    assert temp_dir.name.startswith("ray-gen-"), temp_dir

    async def cleaned_up() -> bool:
        gone = not await asyncio.to_thread(temp_dir.exists)
        return gone and not await processes_naming(str(temp_dir))

    await wait_for(cleaned_up, timeout_s=60, interval_s=0.5)


async def test_a_generator_whose_ray_node_dies_exits_and_its_job_is_taken_again(
    joining: tuple[dict[str, Any], dict[str, str]],
    generator_server: Any,
    make_token: Any,
    tmp_path: Any,
) -> None:
    """Ray ends a driver whose node is gone, so the process cannot linger renewing the lease of a job
    it can no longer run: it exits non-zero (its pod restarts) and another worker finishes the job."""
    values, environment = joining
    before = alive_nodes()
    log_path = tmp_path / "generator.log"
    async with generator_server(**values, workers=0) as front:
        async with AsyncGeneratorClient(f"127.0.0.1:{front.port}", token=make_token(brand=BRAND)) as api:
            job = (await api.api.SubmitGeneration(submission("node-lost", shot(steps=100)))).job
            with log_path.open("wb") as log:
                process = start_generator_process(environment, log)
                try:

                    async def running() -> bool:
                        current = (await api.api.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
                        return current.progress.step >= 2

                    await wait_for(running, timeout_s=120, interval_s=0.1)
                    (node,) = [node for node_id, node in alive_nodes().items() if node_id not in before]
                    temp_dir = node["ObjectStoreSocketName"].split("/session_")[0]
                    # The whole node goes at once, as when its pod's Ray processes are OOM-killed.
                    for group in {os.getpgid(pid) for pid in await processes_naming(temp_dir)}:
                        os.killpg(group, signal.SIGKILL)
                    code = await asyncio.to_thread(process.wait, 60)
                finally:
                    if process.poll() is None:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
            assert code != 0, log_path.read_text(errors="replace")[-3000:]
            # Killed with its node, the supervisor could not clean up; the next node start does.
            assert await asyncio.to_thread(Path(temp_dir).is_dir)
            fresh = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))  # another generator's node, starting
            try:
                removed = await asyncio.to_thread(remove_stale_temp_dirs, 0.0)
                assert Path(temp_dir) in removed and fresh in removed
                # By default a directory made in the last seconds is someone's node about to start.
                await asyncio.to_thread(fresh.mkdir)
                assert fresh not in await asyncio.to_thread(remove_stale_temp_dirs)
                assert await asyncio.to_thread(fresh.is_dir)
            finally:
                shutil.rmtree(fresh, ignore_errors=True)
            async with generator_server(**{**values, "workers": 1}):
                done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=180)
    assert done.state == pb.JOB_STATE_SUCCEEDED, done.error
