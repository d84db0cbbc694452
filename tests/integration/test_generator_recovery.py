"""Jobs survive what kills their work: the video application's Ray Serve replica (the tiny model) killed
mid-shot, and a generator process killed mid-job. The job completes on a later attempt or fails with
the reason — never stuck, never finished twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.generator.serve_app import APP_NAME
from likeness.rpc.auth import JwtKey
from likeness.sdk import AsyncAssetsClient, AsyncGeneratorClient
from tests.assets_support import create_brand
from tests.integration.generator_support import (
    TERMINAL,
    events_of,
    generator_environment,
    generator_process,
    short_lease_settings,
    shot,
    submission,
    wait_for,
    wait_for_state,
)

BRAND = "acme"


@pytest.fixture
async def assets(assets_server: Any, make_token: Any) -> AsyncIterator[Any]:
    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as client:
            await create_brand(client, BRAND)
            yield server, client


def kill_replica(app: str) -> None:
    import ray

    replicas = [
        actor
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["name"].startswith(f"SERVE_REPLICA::{app}#VideoModel")
    ]
    assert len(replicas) == 1
    ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)


async def progressed(api: AsyncGeneratorClient, job_id: str, step: int) -> None:
    # Polled: the stored progress is what a restarted worker resumes from.
    async def reached() -> bool:
        job = (await api.api.GetJob(pb.GetJobRequest(job_id=job_id))).job
        return job.progress.step >= step

    await wait_for(reached, timeout_s=120, interval_s=0.02)


async def assets_of(client: AsyncAssetsClient, job_id: str) -> list[assets_pb.GeneratedAsset]:
    response = await client.api.ListGeneratedAssets(assets_pb.ListGeneratedAssetsRequest(job_id=job_id))
    return list(response.generated_assets)


async def test_a_killed_generator_process_leaves_the_job_to_another(
    assets: Any,
    video_model: Any,
    generator_server: Any,
    jwt_key: JwtKey,
    database_url: str,
    make_token: Any,
    tmp_path: Any,
) -> None:
    import ray

    server, registry = assets
    environment = generator_environment(
        short_lease_settings(server, APP_NAME, tmp_path),
        database_url,
        jwt_key,
        workers="1",
        ray_address=ray.get_runtime_context().gcs_address,
    )
    token = make_token(brand=BRAND)
    # This replica takes submissions only; the job runs in the process that is then killed.
    async with generator_server(**short_lease_settings(server, APP_NAME, tmp_path, workers=0)) as front:
        async with AsyncGeneratorClient(f"127.0.0.1:{front.port}", token=token) as api:
            job = (await api.api.SubmitGeneration(submission("process", shot(steps=100)))).job
            with generator_process(environment, tmp_path / "generator.log"):  # killed as it leaves
                await asyncio.wait_for(progressed(api, job.job_id, 5), 120)
            killed_at = (await api.api.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
            assert killed_at.state == pb.JOB_STATE_RUNNING
            async with generator_server(**short_lease_settings(server, APP_NAME, tmp_path, workers=1)):
                done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=90)
            events = await events_of(api, job.job_id)
    assert done.state == pb.JOB_STATE_SUCCEEDED, done.error
    logs = [event.message for event in events if event.type == pb.JOB_EVENT_TYPE_LOG]
    assert any("attempt 2 resumes the job (the previous worker stopped)" in line for line in logs)
    states = [event.state for event in events if event.type == pb.JOB_EVENT_TYPE_STATE_CHANGED]
    assert states.count(pb.JOB_STATE_SUCCEEDED) == 1
    records = await assets_of(registry, job.job_id)
    assert [record.generated_asset_id for record in records] == [done.generated_asset_id]


async def test_a_killed_replica_is_retried_and_the_job_completes(
    assets: Any, video_model: Any, generator_server: Any, make_token: Any, tmp_path: Any
) -> None:
    server, registry = assets
    async with generator_server(**short_lease_settings(server, APP_NAME, tmp_path)) as generator:
        async with AsyncGeneratorClient(f"127.0.0.1:{generator.port}", token=make_token(brand=BRAND)) as api:
            job = (await api.api.SubmitGeneration(submission("replica", shot(steps=100)))).job
            await progressed(api, job.job_id, 5)
            await asyncio.to_thread(kill_replica, APP_NAME)
            done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=90)
            events = await events_of(api, job.job_id)
    assert done.state == pb.JOB_STATE_SUCCEEDED, done.error
    logs = [event.message for event in events if event.type == pb.JOB_EVENT_TYPE_LOG]
    assert any("attempt 1 stopped: the model replica was lost during shot 0" in line for line in logs)
    assert any("attempt 2 resumes the job" in line for line in logs)
    # The replacement replica ran the retried shot to the end.
    assert (await video_model.stats.remote()).completed >= 1
    # One shot, one record: the lost attempt left nothing behind in the registry.
    records = await assets_of(registry, job.job_id)
    assert [record.generated_asset_id for record in records] == [done.generated_asset_id]


async def test_replica_losses_beyond_the_limit_fail_the_job_with_the_reason(
    assets: Any, video_model: Any, generator_server: Any, make_token: Any, tmp_path: Any
) -> None:
    server, _ = assets
    values = short_lease_settings(server, APP_NAME, tmp_path, max_attempts=1)
    async with generator_server(**values) as generator:
        async with AsyncGeneratorClient(f"127.0.0.1:{generator.port}", token=make_token(brand=BRAND)) as api:
            job = (await api.api.SubmitGeneration(submission("replica-limit", shot(steps=100)))).job
            await progressed(api, job.job_id, 5)
            await asyncio.to_thread(kill_replica, APP_NAME)
            failed = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=90)
    assert failed.state == pb.JOB_STATE_FAILED
    assert failed.error.code == pb.JOB_ERROR_CODE_GENERATION_FAILED
    assert "gave up after 1 attempts" in failed.error.message
    assert "replica was lost" in failed.error.message
