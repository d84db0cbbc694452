"""Fair, bounded queues per brand through the real generator (gRPC, PostgreSQL, the tiny model on Ray
Serve): one brand's flood is cut at its own queued-job limit, another brand's job is accepted and
started before the flood drains, the platform's operators set a brand's own limits (stored in the
generator's schema), and a brand's running limit holds while other brands' jobs run beside its own."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.generator.serve_app import APP_NAME
from likeness.rpc.auth import Role
from likeness.sdk import AsyncGeneratorClient, LikenessError
from tests.integration.generator_support import TERMINAL, shot, submission, wait_for_state
from tests.integration.test_generator_jobs import create_brands

FLOOD = "xflood"
OTHER = "yother"


def _client(server: Any, token: str) -> AsyncGeneratorClient:
    return AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=token)


@asynccontextmanager
async def _generator(
    assets_server: Any, generator_server: Any, make_token: Any, tmp_path: Any, **limits: Any
) -> AsyncIterator[Any]:
    """A generator with these queue limits beside an assets service where both brands exist."""
    async with assets_server() as assets:
        await create_brands(assets, make_token, FLOOD, OTHER)
        settings = {"assets_address": f"127.0.0.1:{assets.port}", "serve_app_name": APP_NAME,
                    "c2pa_dev_dir": tmp_path / "c2pa", "frame_size": (32, 32), "poll_s": 0.1}  # fmt: skip
        async with generator_server(**settings, **limits) as server:
            yield server


def _started(job: pb.Job) -> float:
    return job.start_time.ToDatetime().timestamp()


async def _submit_until_refused(
    api: AsyncGeneratorClient, prefix: str, attempts: int
) -> tuple[list[str], list[LikenessError]]:
    accepted: list[str] = []
    refused: list[LikenessError] = []
    for index in range(attempts):
        try:
            response = await api.api.SubmitGeneration(submission(f"{prefix}-{index}", shot(steps=2)))
            accepted.append(response.job.job_id)
        except LikenessError as error:
            refused.append(error)
    return accepted, refused


async def test_a_flooding_brand_is_cut_at_its_limit_and_another_brand_starts_before_the_flood_drains(
    video_model: Any, assets_server: Any, generator_server: Any, make_token: Any, tmp_path: Any
) -> None:
    servers = (assets_server, generator_server, make_token, tmp_path)
    async with _generator(*servers, workers=1, max_queued_jobs=50, max_queued_jobs_per_brand=4) as server:
        async with (
            _client(server, make_token(brand=FLOOD, roles=[Role.EDITOR])) as flood,
            _client(server, make_token(brand=OTHER, roles=[Role.EDITOR])) as other,
        ):
            flooded, refused = await _submit_until_refused(flood, "flood", 12)
            during = (await flood.api.GetBrandQuota(pb.GetBrandQuotaRequest())).quota
            mine = (await other.api.SubmitGeneration(submission("mine", shot(steps=2)))).job.job_id
            finished_other = await wait_for_state(other, mine, TERMINAL, timeout_s=120)
            finished_flood = [
                await wait_for_state(flood, job_id, TERMINAL, timeout_s=240) for job_id in flooded
            ]

    # The flood: at most one job handed straight to the idle worker, then 4 queued, the rest refused
    # with a QuotaFailure naming the brand's own quota; nothing of the refused ones is stored.
    assert 4 <= len(flooded) <= 5 and len(refused) == 12 - len(flooded)
    assert {error.code for error in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    violation = refused[0].detail(error_details_pb2.QuotaFailure).violations[0]
    assert violation.subject == f"generator/brands/{FLOOD}/queued_jobs"
    assert "at most 4 queued jobs" in violation.description
    assert during.max_queued_jobs == 4 and not during.max_queued_jobs_is_override
    assert during.queued_jobs == 4
    # The other brand's job was accepted while the queue held the flood, and started before it drained:
    # after at most the one flood job already running, and before every flood job still queued.
    started_after = [job for job in finished_flood if _started(job) > _started(finished_other)]
    print(
        f"flood accepted {len(flooded)}, refused {len(refused)} (limit 4 queued per brand); the other "
        f"brand's job started with {len(started_after)} flood jobs still waiting"
    )
    assert finished_other.state == pb.JOB_STATE_SUCCEEDED
    assert len(started_after) >= 3


async def test_operators_set_a_brands_own_limits_and_its_running_limit_holds(
    video_model: Any, assets_server: Any, generator_server: Any, make_token: Any, tmp_path: Any
) -> None:
    servers = (assets_server, generator_server, make_token, tmp_path)
    async with _generator(*servers, workers=2, max_queued_jobs_per_brand=10) as server:
        async with (
            _client(server, make_token(brand=FLOOD, roles=[Role.ADMIN])) as admin,
            _client(server, make_token(brand=FLOOD, roles=[Role.SERVICE])) as operator,
            _client(server, make_token(brand=OTHER, roles=[Role.EDITOR])) as other,
        ):
            with pytest.raises(LikenessError) as not_theirs:
                await admin.api.SetBrandQuota(pb.SetBrandQuotaRequest(max_queued_jobs=1000))
            limited = await operator.api.SetBrandQuota(
                pb.SetBrandQuotaRequest(max_queued_jobs=3, max_running_jobs=1)
            )
            accepted, refused = await _submit_until_refused(admin, "capped", 6)
            others = [
                (await other.api.SubmitGeneration(submission(f"beside-{n}", shot(steps=2)))).job.job_id
                for n in range(2)
            ]
            flood_jobs = [await wait_for_state(admin, job_id, TERMINAL, timeout_s=240) for job_id in accepted]
            other_jobs = [await wait_for_state(other, job_id, TERMINAL, timeout_s=240) for job_id in others]
            reset = await operator.api.SetBrandQuota(pb.SetBrandQuotaRequest())
            seen = (await admin.api.GetBrandQuota(pb.GetBrandQuotaRequest())).quota

    assert not_theirs.value.code == grpc.StatusCode.PERMISSION_DENIED  # the brand's admin is not the platform
    assert limited.quota.max_queued_jobs == 3 and limited.quota.max_queued_jobs_is_override
    assert limited.quota.max_running_jobs == 1 and limited.quota.max_running_jobs_is_override
    # Its own queued limit: 3 queued (one more may have gone straight to an idle worker).
    assert 3 <= len(accepted) <= 4 and len(refused) == 6 - len(accepted)
    assert (
        "at most 3 queued jobs" in refused[0].detail(error_details_pb2.QuotaFailure).violations[0].description
    )
    # Its running limit of 1 on two workers: its jobs ran one after another...
    spans = sorted((job.start_time.ToDatetime(), job.finish_time.ToDatetime()) for job in flood_jobs)
    assert all(job.state == pb.JOB_STATE_SUCCEEDED for job in flood_jobs + other_jobs), [
        (job.state, job.error.message) for job in flood_jobs + other_jobs
    ]
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert started >= finished
    # ...while the other brand's jobs ran beside them on the second worker.
    beside = [
        job
        for job in other_jobs
        if any(
            job.start_time.ToDatetime() < end and start < job.finish_time.ToDatetime() for start, end in spans
        )
    ]
    assert beside
    # Unset limits return to the platform's defaults.
    assert not reset.quota.max_queued_jobs_is_override and reset.quota.max_queued_jobs == 10
    assert not reset.quota.max_running_jobs_is_override and reset.quota.max_running_jobs == 0
    assert (seen.max_queued_jobs, seen.queued_jobs, seen.running_jobs) == (10, 0, 0)
