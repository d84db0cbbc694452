"""Generator jobs through the real gRPC edge, PostgreSQL and the Ray Serve video application (the tiny
random-weights model): submission with idempotency keys, reads, listing, watching with resume,
cancellation stopping the model within a step."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import grpc
import psycopg
import pytest

from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.generator.serve_app import APP_NAME, ReplicaStats
from likeness.rpc.auth import Role
from likeness.sdk import AsyncGeneratorClient, LikenessError
from tests.integration.generator_support import (
    TERMINAL,
    shot,
    submission,
    wait_for,
    wait_for_state,
)


async def create_brands(assets: Any, make_token: Any, *brands: str) -> None:
    """The brands the tests' tokens name (calls for a brand nobody created are NOT_FOUND)."""
    from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
    from likeness.sdk import AsyncAssetsClient

    for brand in brands:
        async with AsyncAssetsClient(f"127.0.0.1:{assets.port}", token=make_token(brand=brand)) as admin:
            await admin.api.CreateBrand(
                assets_pb.CreateBrandRequest(brand_id=brand, display_name=brand.title())
            )


@pytest.fixture
async def generator(
    video_model: Any, assets_server: Any, generator_server: Any, tmp_path: Any, make_token: Any
) -> AsyncIterator[Any]:
    async with assets_server() as assets:
        await create_brands(assets, make_token, "acme", "other")
        async with generator_server(
            assets_address=f"127.0.0.1:{assets.port}",
            serve_app_name=APP_NAME,
            frame_size=(32, 32),
            lease_s=3.0,
            heartbeat_s=0.5,
            poll_s=0.2,
            progress_interval_s=0.0,
            watch_poll_s=0.1,
            c2pa_dev_dir=tmp_path / "c2pa",
        ) as server:
            yield server


def client(server: Any, token: str) -> AsyncGeneratorClient:
    return AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=token)


@asynccontextmanager
async def editor_of_server(
    assets_server: Any, generator_server: Any, make_token: Any, tmp_path: Any, **settings: Any
) -> AsyncIterator[tuple[Any, AsyncGeneratorClient]]:
    """A generator of its own with these settings, and an editor's client of it."""
    async with assets_server() as assets:
        await create_brands(assets, make_token, "acme")
        async with (
            generator_server(
                assets_address=f"127.0.0.1:{assets.port}",
                serve_app_name=APP_NAME,
                c2pa_dev_dir=tmp_path / "c2pa",
                **settings,
            ) as server,
            client(server, make_token(roles=[Role.EDITOR])) as api,
        ):
            yield server, api


@asynccontextmanager
async def editor_api(
    assets_server: Any, generator_server: Any, make_token: Any, tmp_path: Any, **settings: Any
) -> AsyncIterator[AsyncGeneratorClient]:
    """An editor's client of a generator of its own, with these settings."""
    async with editor_of_server(assets_server, generator_server, make_token, tmp_path, **settings) as (
        _,
        api,
    ):
        yield api


async def test_the_job_tables_are_as_expected(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            "SELECT table_name, count(*) FROM information_schema.columns WHERE table_schema = 'generator' "
            "GROUP BY table_name ORDER BY table_name"
        )
        tables = dict(await cursor.fetchall())
    assert set(tables) == {"jobs", "job_events", "brand_quotas", "schema_migrations"}
    assert tables["job_events"] == 11


async def test_the_same_key_twice_gives_one_job(generator: Any, make_token: Any) -> None:
    async with client(generator, make_token(roles=[Role.EDITOR])) as api:
        request = submission("key-1", shot(steps=100))
        first, second = await asyncio.gather(
            api.api.SubmitGeneration(request), api.api.SubmitGeneration(request)
        )
        assert first.job.job_id == second.job.job_id
        again = await api.api.SubmitGeneration(request)
        assert again.job.job_id == first.job.job_id
        listed = await api.api.ListJobs(pb.ListJobsRequest())
        assert [job.job_id for job in listed.jobs] == [first.job.job_id]
        assert first.job.random_weights and first.job.model.model_id == "tiny-wan2.2-random"
        assert any(w.kind == pb.JOB_WARNING_KIND_RANDOM_WEIGHTS for w in first.job.warnings)

        different = submission("key-1", shot(prompt="something else", steps=100))
        with pytest.raises(LikenessError) as refused:
            await api.api.SubmitGeneration(different)
        assert refused.value.code == grpc.StatusCode.ALREADY_EXISTS
        assert first.job.job_id in refused.value.message
        await api.api.CancelJob(pb.CancelJobRequest(job_id=first.job.job_id))


async def test_jobs_of_another_brand_are_not_found(generator: Any, make_token: Any) -> None:
    async with client(generator, make_token(brand="acme", roles=[Role.EDITOR])) as acme:
        job = (await acme.api.SubmitGeneration(submission("k", shot(steps=100)))).job
        async with client(generator, make_token(brand="other", roles=[Role.ADMIN])) as other:
            for call in (
                other.api.GetJob(pb.GetJobRequest(job_id=job.job_id)),
                other.api.CancelJob(pb.CancelJobRequest(job_id=job.job_id)),
            ):
                with pytest.raises(LikenessError) as missing:
                    await call
                assert missing.value.code == grpc.StatusCode.NOT_FOUND
            with pytest.raises(LikenessError) as missing:
                async for _ in other.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id)):
                    pass
            assert missing.value.code == grpc.StatusCode.NOT_FOUND
            assert not (await other.api.ListJobs(pb.ListJobsRequest())).jobs
            # The same key in another brand is another job.
            theirs = (await other.api.SubmitGeneration(submission("k", shot(steps=100)))).job
            assert theirs.job_id != job.job_id
            await other.api.CancelJob(pb.CancelJobRequest(job_id=theirs.job_id))
        await acme.api.CancelJob(pb.CancelJobRequest(job_id=job.job_id))


async def test_viewers_cannot_submit_or_cancel(generator: Any, make_token: Any) -> None:
    async with client(generator, make_token(roles=[Role.VIEWER])) as viewer:
        with pytest.raises(LikenessError) as denied:
            await viewer.api.SubmitGeneration(submission("k"))
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED


async def test_bad_storyboards_are_invalid_arguments(generator: Any, make_token: Any) -> None:
    async with client(generator, make_token(roles=[Role.EDITOR])) as api:
        bad_frames = submission("k1", shot(frames=6))
        crossfade_too_long = submission(
            "k2",
            shot(frames=5),
            shot(frames=5),
            storyboard={
                "stitching": pb.StitchingOptions(
                    transition=pb.TRANSITION_CROSSFADE, crossfade_duration={"seconds": 1}
                )
            },
        )
        for request in (bad_frames, crossfade_too_long):
            with pytest.raises(LikenessError) as invalid:
                await api.api.SubmitGeneration(request)
            assert invalid.value.code == grpc.StatusCode.INVALID_ARGUMENT
        # Nothing was stored, so the keys are still free.
        assert not (await api.api.ListJobs(pb.ListJobsRequest())).jobs


async def test_list_jobs_pages_newest_first_and_filters_by_state(generator: Any, make_token: Any) -> None:
    async with client(generator, make_token(roles=[Role.EDITOR])) as api:
        ids = []
        for index in range(5):
            job = (await api.api.SubmitGeneration(submission(f"page-{index}", shot(steps=100)))).job
            ids.append(job.job_id)
            await api.api.CancelJob(pb.CancelJobRequest(job_id=job.job_id))
        seen: list[str] = []
        token = ""
        while True:
            page = await api.api.ListJobs(pb.ListJobsRequest(page_size=2, page_token=token))
            assert len(page.jobs) <= 2
            assert all(not job.HasField("storyboard") and not job.shot_results for job in page.jobs)
            seen.extend(job.job_id for job in page.jobs)
            token = page.next_page_token
            if not token:
                break
        assert seen == list(reversed(ids))
        cancelled = await api.api.ListJobs(pb.ListJobsRequest(state=pb.JOB_STATE_CANCELLED))
        assert len(cancelled.jobs) == 5
        assert not (await api.api.ListJobs(pb.ListJobsRequest(state=pb.JOB_STATE_SUCCEEDED))).jobs
        with pytest.raises(LikenessError) as invalid:
            await api.api.ListJobs(pb.ListJobsRequest(state=pb.JOB_STATE_SUCCEEDED, page_token=token or "x"))
        assert invalid.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_cancel_stops_denoising_within_one_step(
    generator: Any, video_model: Any, make_token: Any
) -> None:
    before: ReplicaStats = await video_model.stats.remote()
    async with client(generator, make_token(roles=[Role.EDITOR])) as api:
        job = (await api.api.SubmitGeneration(submission("cancel-me", shot(steps=100)))).job
        async for response in api.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id)):
            if response.event.type == pb.JOB_EVENT_TYPE_PROGRESS and response.event.progress.step >= 3:
                break
        cancelled = (await api.api.CancelJob(pb.CancelJobRequest(job_id=job.job_id))).job
        assert cancelled.state == pb.JOB_STATE_CANCELLED

        async def stopped() -> ReplicaStats | None:
            stats: ReplicaStats = await video_model.stats.remote()
            return stats if stats.cancelled > before.cancelled else None

        stats = await wait_for(stopped, timeout_s=10)
        assert 3 <= stats.last_cancelled_at_step < 100
        assert stats.last_steps_run - stats.last_cancelled_at_step <= 1
        assert stats.completed == before.completed

        # Idempotent, and the job stays cancelled: no event after the cancellation. Absence can only be
        # shown over time: this is the window in which a late event would have appeared.
        await asyncio.sleep(0.5)
        again = (await api.api.CancelJob(pb.CancelJobRequest(job_id=job.job_id))).job
        assert again.state == pb.JOB_STATE_CANCELLED
        assert again.last_event_sequence == cancelled.last_event_sequence


async def test_watch_replays_and_resumes_from_a_sequence(generator: Any, make_token: Any) -> None:
    async with client(generator, make_token(roles=[Role.EDITOR])) as api:
        job = (await api.api.SubmitGeneration(submission("watch", shot(steps=12)))).job
        first = []
        async for response in api.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id)):
            first.append(response.event)
            if len(first) == 3:
                break
        rest = [
            response.event
            async for response in api.api.WatchJob(
                pb.WatchJobRequest(job_id=job.job_id, from_sequence=first[-1].sequence)
            )
        ]
        everything = [
            response.event async for response in api.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id))
        ]
    sequences = [event.sequence for event in first + rest]
    assert sequences == sorted(set(sequences))
    assert [event.sequence for event in everything] == sequences
    assert everything[0].type == pb.JOB_EVENT_TYPE_STATE_CHANGED
    assert everything[0].state == pb.JOB_STATE_QUEUED
    last = everything[-1]
    assert last.type == pb.JOB_EVENT_TYPE_STATE_CHANGED and last.state in TERMINAL
    steps = [event.progress.step for event in everything if event.type == pb.JOB_EVENT_TYPE_PROGRESS]
    assert steps and steps == sorted(steps) and steps[-1] == 12
    states = [event.state for event in everything if event.type == pb.JOB_EVENT_TYPE_STATE_CHANGED]
    assert states[:3] == [pb.JOB_STATE_QUEUED, pb.JOB_STATE_CHECKING, pb.JOB_STATE_RUNNING]
    final = await wait_for_state(client(generator, make_token()), job.job_id, TERMINAL)
    assert final.last_event_sequence == last.sequence
    # A finished job watched from its last event (or beyond) has nothing more: the stream just ends.
    async with client(generator, make_token()) as api:
        for after in (last.sequence, last.sequence + 10):
            request = pb.WatchJobRequest(job_id=job.job_id, from_sequence=after)
            assert [response.event async for response in api.api.WatchJob(request)] == []


async def test_watchers_leaving_early_do_not_disturb_the_server(generator: Any, make_token: Any) -> None:
    async with client(generator, make_token(roles=[Role.EDITOR])) as api:
        job = (await api.api.SubmitGeneration(submission("leavers", shot(steps=30)))).job

        async def leave_after(events: int) -> int:
            seen = 0
            async for _ in api.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id)):
                seen += 1
                if seen == events:
                    break
            return seen

        assert await asyncio.gather(*(leave_after(1 + n % 3) for n in range(12))) == [
            1 + n % 3 for n in range(12)
        ]
        for events in (1, 2, 3, 4):
            assert await leave_after(events) == events
        final = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=120)
    assert final.state == pb.JOB_STATE_SUCCEEDED


async def test_a_full_queue_refuses_new_jobs_and_stores_nothing_of_them(
    video_model: Any, assets_server: Any, generator_server: Any, make_token: Any, tmp_path: Any
) -> None:
    async with editor_api(
        assets_server, generator_server, make_token, tmp_path, workers=0, max_queued_jobs=2
    ) as api:
        kept = [(await api.api.SubmitGeneration(submission(f"queued-{n}", shot()))).job for n in range(2)]
        with pytest.raises(LikenessError) as refused:
            await api.api.SubmitGeneration(submission("one-too-many", shot()))
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue is full" in refused.value.message
        # A job already in the queue is still returned for its key.
        again = await api.api.SubmitGeneration(submission("queued-0", shot()))
        assert again.job.job_id == kept[0].job_id
        listed = await api.api.ListJobs(pb.ListJobsRequest())
        assert sorted(job.job_id for job in listed.jobs) == sorted(job.job_id for job in kept)
        assert all(job.state == pb.JOB_STATE_QUEUED for job in listed.jobs)


async def test_a_job_submitted_while_a_worker_is_idle_is_leased_in_its_submission(
    video_model: Any,
    assets_server: Any,
    generator_server: Any,
    make_token: Any,
    database_url: str,
    tmp_path: Any,
) -> None:
    # Polling so rarely that the worker is idle whenever the test submits.
    servers = (assets_server, generator_server, make_token, tmp_path)
    async with editor_of_server(*servers, frame_size=(32, 32), poll_s=60.0) as (server, api):

        async def worker_idle() -> bool:  # past its first look at the queue
            return bool(server.spec.servicer.runtime.workers.idle >= 1)

        await wait_for(worker_idle)
        job = (await api.api.SubmitGeneration(submission("handed", shot(steps=2)))).job
        # Claimed in the submission's own transaction: no worker could have changed it before the
        # reply.
        assert job.state == pb.JOB_STATE_CHECKING
        assert job.last_event_sequence == 3  # queued, the random-weights warning, checking
        final = await wait_for_state(api, job.job_id, TERMINAL)
        events = [
            response.event async for response in api.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id))
        ]
    assert final.state == pb.JOB_STATE_SUCCEEDED
    states = [event.state for event in events if event.type == pb.JOB_EVENT_TYPE_STATE_CHANGED]
    assert states == [
        pb.JOB_STATE_QUEUED,
        pb.JOB_STATE_CHECKING,
        pb.JOB_STATE_RUNNING,
        pb.JOB_STATE_SCORING,
        pb.JOB_STATE_SUCCEEDED,
    ]
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            "SELECT attempts, lease_id FROM generator.jobs WHERE job_id = %s", (job.job_id,)
        )
        assert await cursor.fetchone() == (1, None)


@pytest.fixture
async def job_store(database_url: str) -> AsyncIterator[Any]:
    """A job store on a schema of its own, so that no other test's jobs wait in its queue."""
    from likeness.db import apply_migrations, load_migrations, load_queries, open_pool
    from likeness.generator.jobs import JobStore
    from likeness.generator.settings import GeneratorSettings

    settings = GeneratorSettings(database_url=database_url, database_schema=f"handoff_{uuid.uuid4().hex[:8]}")
    pool = await open_pool(settings)
    try:
        async with pool.connection() as connection:
            await apply_migrations(
                connection, settings.database_schema, load_migrations("likeness.generator")
            )
        yield JobStore(
            pool,
            load_queries("likeness.generator"),
            max_queued_jobs=10,
            max_queued_jobs_per_brand=4,
            watch_poll_s=0.1,
        )
    finally:
        async with pool.connection() as connection:
            await connection.execute(f'DROP SCHEMA "{settings.database_schema}" CASCADE')
        await pool.close()


def new_job(key: str, brand_id: str = "acme") -> Any:
    from likeness.generator.domain import (
        ModelDescription,
        Shot,
        Storyboard,
        Submission,
        UsageChannel,
        UsagePurpose,
    )
    from likeness.generator.jobs import NewJob

    submission = Submission(
        brand_id=brand_id,
        subject="test",
        idempotency_key=key,
        request_sha256="0" * 64,
        purpose=UsagePurpose.ADVERTISING,
        channel=UsageChannel.ONLINE_VIDEO,
        territory="FR",
        strict_attribute_check=False,
        storyboard=Storyboard(shots=(Shot(prompt="a red ball", num_frames=5, num_inference_steps=2),)),
    )
    return NewJob(
        submission=submission,
        characters=(),
        warnings=(),
        model=ModelDescription(model_id="tiny-wan2.2-random", random_weights=True),
    )


async def test_a_submission_never_leases_its_job_past_one_that_waits(job_store: Any) -> None:
    from likeness.generator.domain import JobState

    waiting, leased = await job_store.submit(new_job("first"))
    assert not leased and waiting.state is JobState.QUEUED and waiting.lease_id is None
    later, leased = await job_store.submit(new_job("second"), lease_to="generator-a", lease_s=30.0)
    assert not leased and later.state is JobState.QUEUED and later.lease_id is None
    # Once nothing waits, the next submission is leased to the offered owner, already checking.
    claimed = await job_store.claim("generator-b", 30.0)
    assert claimed is not None and claimed[0].job_id == waiting.job_id
    claimed = await job_store.claim("generator-b", 30.0)
    assert claimed is not None and claimed[0].job_id == later.job_id
    handed, leased = await job_store.submit(new_job("third"), lease_to="generator-a", lease_s=30.0)
    assert leased and handed.state is JobState.CHECKING and handed.lease_id is not None
    assert handed.attempts == 1 and handed.last_event_sequence == 2
    assert await job_store.claim("generator-b", 30.0) is None
    # The same key again is the same job, and never leased a second time.
    again, leased = await job_store.submit(new_job("third"), lease_to="generator-a", lease_s=30.0)
    assert not leased and again.job_id == handed.job_id


async def test_a_handed_job_no_worker_is_idle_for_is_given_back_whole(job_store: Any) -> None:
    from likeness.generator.domain import EventType, JobState
    from likeness.generator.scheduler import WorkerPool
    from likeness.generator.settings import GeneratorSettings

    # A pool whose workers never started: none is idle when the job arrives.
    workers = WorkerPool(job_store, cast(Any, None), GeneratorSettings())
    assert workers.offer() is None
    job, leased = await job_store.submit(new_job("late"), lease_to=workers.owner, lease_s=30.0)
    assert leased
    await workers.hand(job)
    claimed = await job_store.claim("generator-b", 30.0)
    assert claimed is not None
    taken, _ = claimed
    # Claimable at once, its refunded attempt not counted, and not checked twice in its event log.
    assert taken.job_id == job.job_id and taken.state is JobState.CHECKING and taken.attempts == 1
    events = await job_store.events_after(job.job_id, 0)
    assert [(event.type, event.state) for event in events] == [
        (EventType.STATE_CHANGED, JobState.QUEUED),
        (EventType.STATE_CHANGED, JobState.CHECKING),
    ]


async def test_brands_take_turns_and_one_brand_cannot_fill_the_queue(job_store: Any) -> None:
    from likeness.errors import ResourceExhausted

    flood = [(await job_store.submit(new_job(f"x-{n}", "xflood")))[0] for n in range(4)]
    with pytest.raises(ResourceExhausted) as refused:
        await job_store.submit(new_job("x-4", "xflood"))
    assert refused.value.violations[0].subject == "generator/brands/xflood/queued_jobs"
    # The flooding brand is at its own limit; another brand's job is still taken.
    other, _ = await job_store.submit(new_job("y-0", "yother"))
    order = []
    for _ in range(5):
        claimed = await job_store.claim("generator-a", 30.0)
        assert claimed is not None
        order.append(claimed[0].job_id)
    # The flood's first job started first (no brand had run yet); the other brand's job is next, before
    # the rest of the flood, which then keeps its own order.
    assert order == [flood[0].job_id, other.job_id, *[job.job_id for job in flood[1:]]]


async def test_the_queue_limit_holds_under_concurrent_submissions(job_store: Any) -> None:
    from likeness.errors import ResourceExhausted

    brands = [f"brand{n}" for n in range(5)]
    results = await asyncio.gather(
        *(job_store.submit(new_job(f"c-{n}", brands[n % 5])) for n in range(30)), return_exceptions=True
    )
    accepted = [result for result in results if not isinstance(result, BaseException)]
    refused = [result for result in results if isinstance(result, ResourceExhausted)]
    assert len(accepted) == 10 and len(refused) == 20, results  # max_queued_jobs 10, exactly
