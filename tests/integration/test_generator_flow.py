"""Generation end to end with real assets and identity services and the Ray Serve video application
(the tiny random-weights model): the consent and character gates before any GPU work and before each
shot, and a multi-shot, multi-character storyboard stitched, scored, marked with C2PA credentials and
recorded. The refusal cases run on a stepped stand-in model without an identity adapter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.common.v1 import faces_pb2
from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.generator import provenance, stitching
from likeness.generator.serve_app import APP_NAME, ReplicaStats
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, AsyncGeneratorClient, LikenessError
from tests.assets_support import (
    JPEG,
    PNG,
    add_identity,
    create_brand,
    create_character,
    record_consent,
    unit_vector,
    upload,
)
from tests.integration.generator_support import (
    TERMINAL,
    deploy_stepped_model,
    events_of,
    shot,
    submission,
    wait_for,
    wait_for_state,
)

STEP_S = 0.05
BRAND = "acme"


@pytest.fixture(scope="module")
def stepped_app(ray_serve: Any) -> Any:
    name = f"flow-{uuid.uuid4().hex[:6]}"
    handle = deploy_stepped_model(ray_serve, name, STEP_S)
    try:
        yield name, handle
    finally:
        ray_serve.delete(name)


class Stack:
    def __init__(self, assets: Any, identity: Any, start_generator: Any, tmp_path: Any) -> None:
        self.assets = assets
        self.identity = identity
        self.start_generator = start_generator
        self.c2pa_dir = tmp_path / "c2pa"

    def generator(self, **overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "assets_address": f"127.0.0.1:{self.assets.port}",
            "identity_address": f"127.0.0.1:{self.identity.port}",
            "serve_app_name": APP_NAME,
            "frame_size": (32, 32),
            "lease_s": 3.0,
            "heartbeat_s": 0.5,
            "poll_s": 0.2,
            "progress_interval_s": 0.0,
            "watch_poll_s": 0.1,
            "qa_sample_frames": 4,
            "c2pa_dev_dir": self.c2pa_dir,
        }
        settings.update(overrides)
        return self.start_generator(**settings)


@pytest.fixture
async def stack(
    video_model: Any, assets_server: Any, identity_server: Any, generator_server: Any, tmp_path: Any
) -> AsyncIterator[Stack]:
    async with assets_server() as assets:
        async with identity_server(assets_address=f"127.0.0.1:{assets.port}") as identity:
            yield Stack(assets, identity, generator_server, tmp_path)


@pytest.fixture
async def registry(stack: Stack, make_token: Any) -> AsyncIterator[AsyncAssetsClient]:
    async with AsyncAssetsClient(f"127.0.0.1:{stack.assets.port}", token=make_token(brand=BRAND)) as client:
        await create_brand(client, BRAND)
        yield client


async def make_actor(
    client: AsyncAssetsClient,
    name: str,
    *,
    consent: bool = True,
    identity: bool = True,
    valid_until: datetime | None = None,
    **fields: Any,
) -> tuple[str, str]:
    """A character with (by default) a valid consent and an ACTIVE identity; returns (id, consent id)."""
    character = await create_character(client, name, **fields)
    consent_id = ""
    if consent:
        evidence = await upload(client, JPEG + name.encode(), assets_pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
        record = await record_consent(
            client,
            character.character_id,
            evidence,
            valid_from=datetime.now(UTC) - timedelta(days=2),
            valid_until=valid_until,
        )
        consent_id = record.consent_id
    if identity:
        photo = await upload(client, PNG + name.encode(), assets_pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
        await add_identity(client, character.character_id, unit_vector(hash(name) % 1000), [photo.object_id])
    return character.character_id, consent_id


def with_characters(base: pb.Shot, *character_ids: str, **fields: Any) -> pb.Shot:
    base.characters.extend(pb.ShotCharacter(character_id=cid, **fields) for cid in character_ids)
    return base


def violations(error: LikenessError) -> list[tuple[str, str]]:
    detail = error.detail(error_details_pb2.PreconditionFailure)
    assert detail is not None
    return [(violation.type, violation.subject) for violation in detail.violations]


async def test_submissions_that_may_not_run_are_refused_before_any_gpu_work(
    stack: Stack, registry: AsyncAssetsClient, stepped_app: Any, make_token: Any
) -> None:
    # Consent must be current when the identity is added; this one runs out a moment later.
    expires = datetime.now(UTC) + timedelta(seconds=1)
    expired, _ = await make_actor(registry, "Expired", valid_until=expires)
    revoked, revoked_consent = await make_actor(registry, "Revoked")
    await registry.api.RevokeConsent(
        assets_pb.RevokeConsentRequest(consent_id=revoked_consent, reason="withdrawn")
    )
    faceless, _ = await make_actor(registry, "Faceless", identity=False)
    older_man, _ = await make_actor(
        registry,
        "Walter",
        declared_attributes=assets_pb.DeclaredAttributes(
            gender=faces_pb2.GENDER_MALE, age_range=assets_pb.AgeRange(min_years=58, max_years=64)
        ),
    )
    # Not a wait on the system: the consent's validity ends at a wall-clock time, which must pass.
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()))
    before = (await stepped_app[1].progress.remote())["steps_run"]
    async with stack.generator(serve_app_name=stepped_app[0]) as server:
        async with AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as api:
            cases = [
                (with_characters(shot(), expired), [("EXPIRED", expired)]),
                (with_characters(shot(), revoked), [("REVOKED", revoked)]),
                (with_characters(shot(), faceless), [("CHARACTER_UNAVAILABLE", faceless)]),
                (
                    with_characters(shot(), older_man, identity_strength=0.8),
                    [("NO_IDENTITY_ADAPTER", "storyboard.shots[0].characters[0].identity_strength")],
                ),
                (
                    pb.Shot(prompt="a preview", resolution=pb.RESOLUTION_480P, preset=pb.SPEED_PRESET_DRAFT),
                    [("PRESET_UNAVAILABLE", "storyboard.shots[0].preset")],
                ),
                (
                    with_characters(shot("a young woman dances"), older_man),
                    [
                        ("ATTRIBUTE_CONTRADICTION", "storyboard.shots[0].prompt"),
                        ("ATTRIBUTE_CONTRADICTION", "storyboard.shots[0].prompt"),
                    ],
                ),
            ]
            for index, (refused_shot, expected) in enumerate(cases):
                request = submission(f"refused-{index}", refused_shot, strict_attribute_check=True)
                with pytest.raises(LikenessError) as refused:
                    await api.api.SubmitGeneration(request)
                assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION, refused.value
                assert violations(refused.value) == expected
            with pytest.raises(LikenessError) as unknown:
                await api.api.SubmitGeneration(
                    submission("unknown", with_characters(shot(), "00000000-0000-4000-8000-000000000000"))
                )
            assert unknown.value.code == grpc.StatusCode.NOT_FOUND
            with pytest.raises(LikenessError) as unknown_version:
                await api.api.SubmitGeneration(
                    submission("unknown-version", with_characters(shot(), older_man, identity_version=7))
                )
            assert unknown_version.value.code == grpc.StatusCode.NOT_FOUND, unknown_version.value
        # A valid token for a brand nobody created submits nothing.
        async with AsyncGeneratorClient(
            f"127.0.0.1:{server.port}", token=make_token(brand="nobody")
        ) as ghost:
            with pytest.raises(LikenessError) as no_brand:
                await ghost.api.SubmitGeneration(submission("ghost", shot()))
            assert no_brand.value.code == grpc.StatusCode.NOT_FOUND, no_brand.value
            assert "brand 'nobody' not found" in no_brand.value.message
        async with AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as api:
            assert "no identity version 7" in unknown_version.value.message
            assert not (await api.api.ListJobs(pb.ListJobsRequest())).jobs

            # Without strict mode a contradiction is a warning on the job.
            job = (
                await api.api.SubmitGeneration(
                    submission("warned", with_characters(shot("a young woman dances", steps=100), older_man))
                )
            ).job
            kinds = [warning.kind for warning in job.warnings]
            assert pb.JOB_WARNING_KIND_ATTRIBUTE_CONTRADICTION in kinds
            assert job.characters[0].identity_version == 1 and job.characters[0].consent_id
            await api.api.CancelJob(pb.CancelJobRequest(job_id=job.job_id))
    after = (await stepped_app[1].progress.remote())["steps_run"]
    refused_runs = {key for key in after.keys() - before.keys() if not key.startswith(job.job_id)}
    assert refused_runs == set()


async def test_consent_revoked_while_queued_fails_the_job_before_gpu_work(
    stack: Stack, registry: AsyncAssetsClient, video_model: Any, make_token: Any
) -> None:
    actor, consent = await make_actor(registry, "Mia")
    before: ReplicaStats = await video_model.stats.remote()
    token = make_token(brand=BRAND)
    async with stack.generator(workers=0) as front:
        async with AsyncGeneratorClient(f"127.0.0.1:{front.port}", token=token) as api:
            job = (await api.api.SubmitGeneration(submission("queued", with_characters(shot(), actor)))).job
            assert job.state == pb.JOB_STATE_QUEUED
            await registry.api.RevokeConsent(
                assets_pb.RevokeConsentRequest(consent_id=consent, reason="withdrawn")
            )
            async with stack.generator(workers=1):
                failed = await wait_for_state(api, job.job_id, TERMINAL)
    assert failed.state == pb.JOB_STATE_FAILED
    assert failed.error.code == pb.JOB_ERROR_CODE_CONSENT_DENIED
    assert failed.error.character_id == actor
    assert (await video_model.stats.remote()).started == before.started


async def test_consent_revoked_between_shots_stops_the_next_shot(
    stack: Stack, registry: AsyncAssetsClient, video_model: Any, make_token: Any
) -> None:
    actor, consent = await make_actor(registry, "Mia")
    before: ReplicaStats = await video_model.stats.remote()
    async with stack.generator() as server:
        async with AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as api:
            request = submission(
                "two-shots", with_characters(shot(steps=30), actor), with_characters(shot(steps=30), actor)
            )
            job = (await api.api.SubmitGeneration(request)).job
            async for response in api.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id)):
                if response.event.type == pb.JOB_EVENT_TYPE_PROGRESS:
                    break
            await registry.api.RevokeConsent(
                assets_pb.RevokeConsentRequest(consent_id=consent, reason="withdrawn")
            )
            failed = await wait_for_state(api, job.job_id, TERMINAL)
            events = await events_of(api, job.job_id)
    assert failed.state == pb.JOB_STATE_FAILED
    assert failed.error.code == pb.JOB_ERROR_CODE_CONSENT_DENIED
    assert failed.error.shot_index == 1 and failed.error.character_id == actor
    assert "REVOKED" in failed.error.message
    # Shot 0 finished and keeps its clip and record; shot 1 never reached the model.
    assert [result.shot_index for result in failed.shot_results] == [0]
    assert failed.shot_results[0].generated_asset_id
    after: ReplicaStats = await video_model.stats.remote()
    assert (after.started, after.completed) == (before.started + 1, before.completed + 1)
    assert events[-1].error.code == pb.JOB_ERROR_CODE_CONSENT_DENIED
    assert [e.shot_index for e in events if e.type == pb.JOB_EVENT_TYPE_SHOT_STARTED] == [0]


async def test_a_storyboard_of_three_shots_with_two_characters(
    stack: Stack, registry: AsyncAssetsClient, make_token: Any
) -> None:
    mia, mia_consent = await make_actor(registry, "Mia")
    noah, noah_consent = await make_actor(registry, "Noah")
    async with stack.generator() as server:
        async with AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as api:
            together = shot("they talk", frames=9)
            # Side by side: each identity conditions only its half of the frame.
            together.characters.extend(
                [
                    pb.ShotCharacter(
                        character_id=mia, region=pb.ScreenRegion(x=0.0, y=0.0, width=0.5, height=1.0)
                    ),
                    pb.ShotCharacter(
                        character_id=noah, region=pb.ScreenRegion(x=0.5, y=0.0, width=0.5, height=1.0)
                    ),
                ]
            )
            # The second shot is a draft: the distilled LoRA's 4 steps without guidance.
            waving = pb.Shot(
                prompt="he waves", num_frames=5, resolution=pb.RESOLUTION_480P, seed=7,
                preset=pb.SPEED_PRESET_DRAFT,
            )  # fmt: skip
            request = submission(
                "storyboard",
                with_characters(shot("she walks in", frames=9), mia),
                with_characters(waving, noah),
                together,
            )
            job = (await api.api.SubmitGeneration(request)).job
            done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=120)
            events = await events_of(api, job.job_id)
    assert done.state == pb.JOB_STATE_SUCCEEDED, done.error
    # Every shot goes through each phase after denoising, then the job through its own finishing.
    phases = [
        (event.shot_index if event.HasField("shot_index") else None, event.progress.phase)
        for event in events
        if event.type == pb.JOB_EVENT_TYPE_PHASE_CHANGED
    ]
    per_shot = [pb.JOB_PHASE_DECODING, pb.JOB_PHASE_SIGNING, pb.JOB_PHASE_SCORING]
    assert phases == [
        *((index, phase) for index in range(3) for phase in per_shot),
        (None, pb.JOB_PHASE_STITCHING),
        (None, pb.JOB_PHASE_SIGNING),
        (None, pb.JOB_PHASE_SCORING),
    ]
    # The job's time left is estimated from the first measured step on, and comes down as it runs.
    estimates = [
        event.progress.job_remaining.ToTimedelta().total_seconds()
        for event in events
        if event.type == pb.JOB_EVENT_TYPE_PROGRESS and event.progress.HasField("job_remaining")
    ]
    assert len(estimates) >= 3 and estimates[-1] < estimates[0]
    assert all(estimate >= 0 for estimate in estimates)
    assert [result.shot_index for result in done.shot_results] == [0, 1, 2]
    assert all(result.model_time.ToTimedelta().total_seconds() > 0 for result in done.shot_results)
    assert [c.region.x for c in done.storyboard.shots[2].characters] == [0.0, 0.5]
    presets = [shot.preset for shot in done.storyboard.shots]
    assert presets == [pb.SPEED_PRESET_FINAL, pb.SPEED_PRESET_DRAFT, pb.SPEED_PRESET_FINAL]
    assert {score.character_id for score in done.final_identity_scores} == {mia, noah}
    assert done.random_weights and done.scoring_model_pack_id
    # Noise has no faces: QA flags the shots and the final clip.
    assert done.flagged and all(result.flagged for result in done.shot_results)

    clip = b"".join(
        [
            message.chunk
            async for message in registry.api.DownloadObject(
                assets_pb.DownloadObjectRequest(object_id=done.clip_object_id)
            )
            if message.HasField("chunk")
        ]
    )
    frames, fps = stitching.decode_mp4(clip)
    assert frames.shape == (23, 32, 32, 3) and fps == 16.0
    root = (stack.c2pa_dir / "c2pa-dev-root.pem").read_bytes()
    store = provenance.read_manifest(clip, root)
    assert store["validation_state"] == "Trusted"
    manifest = store["manifests"][store["active_manifest"]]
    assertions = {item["label"]: item["data"] for item in manifest["assertions"]}
    created = assertions["c2pa.actions.v2"]["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    likeness = assertions[provenance.LIKENESS_ASSERTION]
    assert likeness["job_id"] == done.job_id
    assert likeness["shots"] == [
        {"shot_index": 0, "preset": "final"},
        {"shot_index": 1, "preset": "draft"},
        {"shot_index": 2, "preset": "final"},
    ]
    assert sorted(likeness["characters"], key=lambda c: c["character_id"]) == sorted(
        [
            {"character_id": mia, "identity_version": 1, "consent_id": mia_consent},
            {"character_id": noah, "identity_version": 1, "consent_id": noah_consent},
        ],
        key=lambda c: c["character_id"],
    )

    final = (
        await registry.api.GetGeneratedAsset(
            assets_pb.GetGeneratedAssetRequest(generated_asset_id=done.generated_asset_id)
        )
    ).generated_asset
    assert final.job_id == done.job_id and final.clip_object_id == done.clip_object_id
    assert [s.shot_index for s in final.shots] == [0, 1, 2]
    assert {usage.character_id: usage.consent_id for usage in final.characters} == {
        mia: mia_consent,
        noah: noah_consent,
    }
    stored_scores = {usage.character_id: usage.identity_score for usage in final.characters}
    for score in done.final_identity_scores:
        assert stored_scores[score.character_id].no_face_fraction == pytest.approx(score.no_face_fraction)
    assert final.flagged and final.flag_reasons
    assert (
        final.provenance_manifest_sha256
        == __import__("hashlib").sha256(provenance.canonical_json(likeness)).hexdigest()
    )
    for result in done.shot_results:
        record = (
            await registry.api.GetGeneratedAsset(
                assets_pb.GetGeneratedAssetRequest(generated_asset_id=result.generated_asset_id)
            )
        ).generated_asset
        assert [s.shot_index for s in record.shots] == [result.shot_index]
        assert len(record.characters) == len(result.identity_scores)


async def test_synthesize_reference_stores_candidate_images(
    stack: Stack, registry: AsyncAssetsClient, make_token: Any
) -> None:
    async with stack.generator() as server:
        async with AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as api:
            response = await api.api.SynthesizeReference(
                pb.SynthesizeReferenceRequest(
                    description="a woman in her forties with short grey hair, studio portrait",
                    count=2,
                    seed=11,
                    resolution=pb.RESOLUTION_480P,
                ),
                timeout=120,
            )
            with pytest.raises(LikenessError) as denied:
                async with AsyncGeneratorClient(
                    f"127.0.0.1:{server.port}", token=make_token(brand=BRAND, roles=[Role.VIEWER])
                ) as viewer:
                    await viewer.api.SynthesizeReference(
                        pb.SynthesizeReferenceRequest(description="x", count=1, resolution=pb.RESOLUTION_480P)
                    )
            assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert response.seed == 11 and len(response.image_object_ids) == 2
    assert response.random_weights and response.model.random_weights
    assert "random weights" in response.synthetic_notice
    for object_id in response.image_object_ids:
        info = (await registry.api.GetObjectInfo(assets_pb.GetObjectInfoRequest(object_id=object_id))).info
        assert info.purpose == assets_pb.OBJECT_PURPOSE_SYNTHETIC_REFERENCE
        assert info.content_type == "image/png"


async def test_a_job_whose_replica_loses_a_rank_mid_shot_is_retried_on_the_replacement_and_succeeds(
    stack: Stack, registry: AsyncAssetsClient, ray_serve: Any, make_token: Any
) -> None:
    import os
    import signal

    from likeness.generator.serve_app import run_local
    from tests.integration.test_parallel_engine import _wait_gone
    from tests.integration.test_video_serve import stats_when

    name = f"flow-ranks-{uuid.uuid4().hex[:6]}"
    handle = run_local("tiny", name=name, ranks=2, num_cpus=0, health_check_period_s=1.0, ray_num_cpus=2)
    try:
        before: ReplicaStats = await handle.stats.remote()
        mia, _ = await make_actor(registry, "Mia")
        async with stack.generator(serve_app_name=name) as server:
            async with AsyncGeneratorClient(f"127.0.0.1:{server.port}", token=make_token(brand=BRAND)) as api:
                request = submission("rank-lost", with_characters(shot("she turns", steps=60, frames=9), mia))
                job = (await api.api.SubmitGeneration(request)).job

                async def denoising() -> bool:
                    current = (await api.api.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
                    return current.progress.step >= 2

                await wait_for(denoising, timeout_s=120, interval_s=0.05)
                os.kill(before.rank_pids[1], signal.SIGKILL)  # mid-shot: step 2 of 60
                done = await wait_for_state(api, job.job_id, TERMINAL, timeout_s=240)
        assert done.state == pb.JOB_STATE_SUCCEEDED, done.error
        after = await stats_when(handle, lambda stats: bool(stats.rank_pids), 60)
        assert set(after.rank_pids).isdisjoint(before.rank_pids)  # it ran on the replacement replica
        assert _wait_gone(list(before.rank_pids)) == []
    finally:
        ray_serve.delete(name)
