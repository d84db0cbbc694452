"""Generated assets over gRPC: recorded by the generator (service role) with provenance, idempotent
on the clip, every reference checked; read and listed by the brand."""

from __future__ import annotations

import uuid

import grpc
import pytest

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.common.v1 import usage_pb2
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import (
    C2PA,
    MP4,
    add_identity,
    consenting_character,
    create_brand,
    unit_vector,
    upload,
)

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def record_request(
    clip_id: str, manifest_id: str, job_id: str, usages: list[pb.CharacterUsage]
) -> pb.RecordGeneratedAssetRequest:
    return pb.RecordGeneratedAssetRequest(
        clip_object_id=clip_id,
        job_id=job_id,
        shots=[
            pb.GeneratedShot(shot_index=0, prompt="a barista smiles", seed=4294967295),
            pb.GeneratedShot(shot_index=1, prompt="she hands over a cup", negative_prompt="blur", seed=7),
        ],
        characters=usages,
        purpose=usage_pb2.USAGE_PURPOSE_ADVERTISING,
        channel=usage_pb2.USAGE_CHANNEL_TV,
        territory="DE",
        flagged=True,
        flag_reasons=["shot 1: identity similarity 0.41 under 0.5"],
        provenance_manifest_sha256="ab" * 32,
        c2pa_manifest_object_id=manifest_id,
        model=pb.ModelDescription(
            model_id="Wan2.2-T2V-A14B", adapter_id="id-adapter-v1", random_weights=True
        ),
        scoring_model_pack_id="buffalo_l",
    )


def usage(character_id: str, consent_id: str, version: int = 1) -> pb.CharacterUsage:
    return pb.CharacterUsage(
        character_id=character_id,
        identity_version=version,
        consent_id=consent_id,
        identity_score=pb.IdentityScore(mean_similarity=0.62, min_similarity=0.41, p10_similarity=0.5),
    )


async def test_record_get_list_and_errors(assets_server, make_token) -> None:
    job = str(uuid.uuid4())
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with (
            AsyncAssetsClient(target, token=make_token(brand="acme")) as acme,
            AsyncAssetsClient(
                target, token=make_token(brand="acme", roles=[Role.SERVICE], subject="generator")
            ) as generator,
            AsyncAssetsClient(target, token=make_token(brand="globex", roles=[Role.SERVICE])) as foreign,
        ):
            await create_brand(acme, "acme")
            mia = await consenting_character(acme, "Mia")
            leo = await consenting_character(acme, "Leo")
            await add_identity(acme, mia.character_id, unit_vector(1), [mia.photo_id])
            await add_identity(acme, leo.character_id, unit_vector(2), [leo.photo_id])
            clip = await upload(generator, MP4 + b"1", pb.OBJECT_PURPOSE_GENERATED_CLIP)
            manifest = await upload(generator, C2PA, pb.OBJECT_PURPOSE_C2PA_MANIFEST)
            both = [usage(mia.character_id, mia.consent_id), usage(leo.character_id, leo.consent_id)]
            request = record_request(clip.object_id, manifest.object_id, job, both)
            recorded = (await generator.api.RecordGeneratedAsset(request)).generated_asset
            again = (await generator.api.RecordGeneratedAsset(request)).generated_asset
            solo_clip = await upload(generator, MP4 + b"2", pb.OBJECT_PURPOSE_GENERATED_CLIP)
            solo = (
                await generator.api.RecordGeneratedAsset(
                    record_request(solo_clip.object_id, manifest.object_id, str(uuid.uuid4()), both[:1])
                )
            ).generated_asset
            fetched = (
                await acme.api.GetGeneratedAsset(
                    pb.GetGeneratedAssetRequest(generated_asset_id=recorded.generated_asset_id)
                )
            ).generated_asset
            everything = await acme.api.ListGeneratedAssets(pb.ListGeneratedAssetsRequest(page_size=1))
            second_page = await acme.api.ListGeneratedAssets(
                pb.ListGeneratedAssetsRequest(page_size=1, page_token=everything.next_page_token)
            )
            of_leo = await acme.api.ListGeneratedAssets(
                pb.ListGeneratedAssetsRequest(character_id=leo.character_id)
            )
            of_job = await acme.api.ListGeneratedAssets(pb.ListGeneratedAssetsRequest(job_id=job))

            other_clip = await upload(generator, MP4 + b"3", pb.OBJECT_PURPOSE_GENERATED_CLIP)
            cases = {
                "editor": (acme, request),
                "conflict": (
                    generator,
                    record_request(clip.object_id, manifest.object_id, str(uuid.uuid4()), both),
                ),
                "foreign_brand": (foreign, request),
                "unknown_character": (
                    generator,
                    record_request(
                        other_clip.object_id, manifest.object_id, job, [usage(UNKNOWN, mia.consent_id)]
                    ),
                ),
                "unknown_version": (
                    generator,
                    record_request(
                        other_clip.object_id,
                        manifest.object_id,
                        job,
                        [usage(mia.character_id, mia.consent_id, 9)],
                    ),
                ),
                "unknown_consent": (
                    generator,
                    record_request(
                        other_clip.object_id, manifest.object_id, job, [usage(mia.character_id, UNKNOWN)]
                    ),
                ),
                "consent_of_other_character": (
                    generator,
                    record_request(
                        other_clip.object_id,
                        manifest.object_id,
                        job,
                        [usage(mia.character_id, leo.consent_id)],
                    ),
                ),
                "clip_is_manifest": (
                    generator,
                    record_request(manifest.object_id, manifest.object_id, job, both),
                ),
                "manifest_is_clip": (
                    generator,
                    record_request(other_clip.object_id, other_clip.object_id, job, both),
                ),
                "unknown_clip": (generator, record_request(UNKNOWN, manifest.object_id, job, both)),
                "duplicate_shots": (
                    generator,
                    pb.RecordGeneratedAssetRequest(
                        **{
                            **{field.name: getattr(request, field.name) for field, _ in request.ListFields()},
                            "clip_object_id": other_clip.object_id,
                            "shots": [
                                pb.GeneratedShot(shot_index=0, prompt="a"),
                                pb.GeneratedShot(shot_index=0, prompt="b"),
                            ],
                        }
                    ),
                ),
            }
            codes = {}
            for name, (client, message) in cases.items():
                with pytest.raises(LikenessError) as caught:
                    await client.api.RecordGeneratedAsset(message)
                codes[name] = caught.value.code
            with pytest.raises(LikenessError) as bad_filter:
                await acme.api.ListGeneratedAssets(pb.ListGeneratedAssetsRequest(character_id="mia"))
            with pytest.raises(LikenessError) as foreign_get:
                await foreign.api.GetGeneratedAsset(
                    pb.GetGeneratedAssetRequest(generated_asset_id=recorded.generated_asset_id)
                )
            recorded_events = await acme.api.ListAuditEvents(
                pb.ListAuditEventsRequest(action="generated_asset.record")
            )

    assert again == recorded
    assert fetched == recorded
    assert recorded.job_id == job and recorded.clip_object_id == clip.object_id
    assert recorded.recorded_by == "generator" and recorded.flagged
    assert [shot.seed for shot in recorded.shots] == [4294967295, 7]
    assert recorded.shots[1].negative_prompt == "blur"
    assert [(u.character_id, u.consent_id) for u in recorded.characters] == [
        (mia.character_id, mia.consent_id),
        (leo.character_id, leo.consent_id),
    ]
    assert recorded.characters[0].identity_score.min_similarity == pytest.approx(0.41)
    assert recorded.characters[0].identity_score.HasField("mean_similarity")
    assert recorded.model.random_weights and recorded.model.adapter_id == "id-adapter-v1"
    assert recorded.provenance_manifest_sha256 == "ab" * 32
    assert not recorded.HasField("erase_time")
    assert [a.generated_asset_id for a in everything.generated_assets] == [solo.generated_asset_id]
    assert [a.generated_asset_id for a in second_page.generated_assets] == [recorded.generated_asset_id]
    assert not second_page.next_page_token
    assert [a.generated_asset_id for a in of_leo.generated_assets] == [recorded.generated_asset_id]
    assert [a.generated_asset_id for a in of_job.generated_assets] == [recorded.generated_asset_id]
    assert codes == {
        "editor": grpc.StatusCode.PERMISSION_DENIED,
        "conflict": grpc.StatusCode.ALREADY_EXISTS,
        "foreign_brand": grpc.StatusCode.NOT_FOUND,
        "unknown_character": grpc.StatusCode.NOT_FOUND,
        "unknown_version": grpc.StatusCode.NOT_FOUND,
        "unknown_consent": grpc.StatusCode.NOT_FOUND,
        "consent_of_other_character": grpc.StatusCode.FAILED_PRECONDITION,
        "clip_is_manifest": grpc.StatusCode.FAILED_PRECONDITION,
        "manifest_is_clip": grpc.StatusCode.FAILED_PRECONDITION,
        "unknown_clip": grpc.StatusCode.NOT_FOUND,
        "duplicate_shots": grpc.StatusCode.INVALID_ARGUMENT,
    }
    assert foreign_get.value.code == grpc.StatusCode.NOT_FOUND
    assert bad_filter.value.code == grpc.StatusCode.INVALID_ARGUMENT
    outcomes = [event.outcome for event in recorded_events.events]
    assert outcomes.count(pb.AUDIT_OUTCOME_SUCCEEDED) == 2
    # The editor's attempt and a consent of another character are refusals; wrong object purposes
    # are failures.
    assert outcomes.count(pb.AUDIT_OUTCOME_DENIED) == 2
    assert outcomes.count(pb.AUDIT_OUTCOME_FAILED) == 2
