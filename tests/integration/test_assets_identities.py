"""Identity versions over gRPC: add (embedding checks, consent requirement, reference photos), read
with the embedding (audited), list, review; the cross-brand collision check."""

from __future__ import annotations

import math
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import (
    JPEG,
    acme_and_globex,
    add_identity,
    consenting_character,
    cosine,
    create_brand,
    create_character,
    near,
    quality,
    unit_vector,
    upload,
)

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_versions_supersede_and_reads_are_audited(assets_server, make_token) -> None:
    base = unit_vector(1)
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with (
            AsyncAssetsClient(target, token=make_token()) as acme,
            AsyncAssetsClient(target, token=make_token(roles=[Role.VIEWER], subject="gen")) as viewer,
        ):
            await create_brand(acme, "acme")
            mia = await consenting_character(acme)
            # Within the tolerance but not exactly unit length: stored normalised.
            slightly_long = [value * 1.0005 for value in base]
            first = await add_identity(acme, mia.character_id, slightly_long, [mia.photo_id])
            second = await add_identity(acme, mia.character_id, near(base, 2, 0.3), [mia.photo_id])
            current = (
                await viewer.api.GetIdentity(
                    pb.GetIdentityRequest(character_id=mia.character_id, access_reason="job 1")
                )
            ).identity_version
            older = (
                await viewer.api.GetIdentity(pb.GetIdentityRequest(character_id=mia.character_id, version=1))
            ).identity_version
            with pytest.raises(LikenessError) as missing_version:
                await viewer.api.GetIdentity(pb.GetIdentityRequest(character_id=mia.character_id, version=9))
            listed = await viewer.api.ListIdentityVersions(
                pb.ListIdentityVersionsRequest(character_id=mia.character_id, page_size=1)
            )
            rest = await viewer.api.ListIdentityVersions(
                pb.ListIdentityVersionsRequest(
                    character_id=mia.character_id, page_size=1, page_token=listed.next_page_token
                )
            )
            character = (
                await acme.api.GetCharacter(pb.GetCharacterRequest(character_id=mia.character_id))
            ).character
            reads = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(action="identity_version.read"))

    assert first.status == pb.IDENTITY_VERSION_STATUS_ACTIVE and first.version == 1
    assert list(first.z_id) == [] and not first.collision_detected
    assert second.version == 2 and second.status == pb.IDENTITY_VERSION_STATUS_ACTIVE
    assert current.version == 2 and len(current.z_id) == 512
    assert math.isclose(math.sqrt(sum(v * v for v in older.z_id)), 1.0, abs_tol=1e-6)
    assert cosine(older.z_id, base) > 0.99999
    assert older.status == pb.IDENTITY_VERSION_STATUS_SUPERSEDED
    assert list(older.reference_photo_object_ids) == [mia.photo_id]
    assert older.quality.photo_reports[0].accepted and older.quality.accepted_count == 1
    assert missing_version.value.code == grpc.StatusCode.NOT_FOUND
    assert [version.version for version in listed.identity_versions] == [2]
    assert [version.version for version in rest.identity_versions] == [1] and not rest.next_page_token
    assert all(len(version.z_id) == 0 for version in listed.identity_versions)
    assert character.current_identity_version == 2
    assert [(event.target_id, event.outcome, event.actor_subject) for event in reads.events] == [
        (f"{mia.character_id}/versions/2", pb.AUDIT_OUTCOME_SUCCEEDED, "gen"),
        (f"{mia.character_id}/versions/1", pb.AUDIT_OUTCOME_SUCCEEDED, "gen"),
        (f"{mia.character_id}/versions/9", pb.AUDIT_OUTCOME_FAILED, "gen"),
    ]
    assert reads.events[0].details["access_reason"] == "job 1"


async def test_add_identity_errors(assets_server, make_token) -> None:
    good = unit_vector(3)
    async with assets_server() as server:
        async with acme_and_globex(server, make_token, Role.VIEWER) as (acme, globex, viewer):
            mia = await consenting_character(acme)
            no_consent = await create_character(acme, "Unconsented")
            evidence = await upload(acme, JPEG + b"e", pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
            foreign_photo = await upload(globex, JPEG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO)

            def request(**changes):
                base = dict(
                    character_id=mia.character_id,
                    z_id=good,
                    model_pack_id="buffalo_l",
                    quality=quality(1),
                    reference_photo_object_ids=[mia.photo_id],
                )
                base.update(changes)
                return pb.AddIdentityVersionRequest(**base)

            cases = {
                "short": (acme, request(z_id=good[:511])),
                "long": (acme, request(z_id=[*good, 0.0])),
                "nan": (acme, request(z_id=[math.nan, *good[1:]])),
                "infinite": (acme, request(z_id=[math.inf, *good[1:]])),
                "not_normalised": (acme, request(z_id=[value * 2 for value in good])),
                "photos_mismatch_reports": (acme, request(quality=quality(2))),
                "no_consent": (acme, request(character_id=no_consent.character_id)),
                "unknown_character": (acme, request(character_id=UNKNOWN)),
                "foreign_character": (globex, request(reference_photo_object_ids=[foreign_photo.object_id])),
                "unknown_photo": (acme, request(reference_photo_object_ids=[UNKNOWN])),
                "foreign_photo": (acme, request(reference_photo_object_ids=[foreign_photo.object_id])),
                "evidence_as_photo": (acme, request(reference_photo_object_ids=[evidence.object_id])),
                "viewer": (viewer, request()),
            }
            errors = {}
            for name, (client, message) in cases.items():
                with pytest.raises(LikenessError) as caught:
                    await client.api.AddIdentityVersion(message)
                errors[name] = caught.value
            await acme.api.RevokeConsent(
                pb.RevokeConsentRequest(consent_id=mia.consent_id, reason="withdrawn")
            )
            with pytest.raises(LikenessError) as revoked:
                await acme.api.AddIdentityVersion(request())
            with pytest.raises(LikenessError) as no_active:
                await acme.api.GetIdentity(pb.GetIdentityRequest(character_id=mia.character_id))
            with pytest.raises(LikenessError) as foreign_read:
                await globex.api.GetIdentity(pb.GetIdentityRequest(character_id=mia.character_id))
            refusals = await acme.api.ListAuditEvents(
                pb.ListAuditEventsRequest(action="identity_version.add")
            )

    codes = {name: error.code for name, error in errors.items()}
    assert codes == {
        "short": grpc.StatusCode.INVALID_ARGUMENT,
        "long": grpc.StatusCode.INVALID_ARGUMENT,
        "nan": grpc.StatusCode.INVALID_ARGUMENT,
        "infinite": grpc.StatusCode.INVALID_ARGUMENT,
        "not_normalised": grpc.StatusCode.INVALID_ARGUMENT,
        "photos_mismatch_reports": grpc.StatusCode.INVALID_ARGUMENT,
        "no_consent": grpc.StatusCode.FAILED_PRECONDITION,
        "unknown_character": grpc.StatusCode.NOT_FOUND,
        "foreign_character": grpc.StatusCode.NOT_FOUND,
        "unknown_photo": grpc.StatusCode.NOT_FOUND,
        "foreign_photo": grpc.StatusCode.NOT_FOUND,
        "evidence_as_photo": grpc.StatusCode.FAILED_PRECONDITION,
        "viewer": grpc.StatusCode.PERMISSION_DENIED,
    }
    consent_violation = errors["no_consent"].detail(error_details_pb2.PreconditionFailure).violations[0]
    assert consent_violation.type == "CONSENT"
    assert consent_violation.subject == f"character/{no_consent.character_id}"
    assert (
        "L2" in errors["not_normalised"].detail(error_details_pb2.BadRequest).field_violations[0].description
    )
    assert revoked.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert no_active.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert foreign_read.value.code == grpc.StatusCode.NOT_FOUND
    # Refused attempts are in the chain: consent and role refusals as DENIED, others as FAILED.
    assert [event.outcome for event in refusals.events] == [
        pb.AUDIT_OUTCOME_DENIED,  # no consent
        pb.AUDIT_OUTCOME_FAILED,  # consent evidence given as a reference photo
        pb.AUDIT_OUTCOME_DENIED,  # a viewer
        pb.AUDIT_OUTCOME_DENIED,  # consent revoked
    ]


async def test_cross_brand_collision_is_held_for_review_without_revealing_the_other_brand(
    assets_server, make_token
) -> None:
    face = unit_vector(10)
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with (
            AsyncAssetsClient(target, token=make_token(brand="acme")) as acme,
            AsyncAssetsClient(target, token=make_token(brand="globex", subject="g")) as globex,
            AsyncAssetsClient(target, token=make_token(brand="globex", roles=[Role.EDITOR])) as editor,
            AsyncAssetsClient(
                target, token=make_token(brand="globex", roles=[Role.SERVICE], subject="platform-review")
            ) as platform,
        ):
            await create_brand(acme, "acme")
            await create_brand(globex, "globex")
            acme_mia = await consenting_character(acme, "Mia")
            await add_identity(acme, acme_mia.character_id, face, [acme_mia.photo_id])
            copy = await consenting_character(globex, "Copy")
            first = await add_identity(globex, copy.character_id, unit_vector(99), [copy.photo_id])
            held = await add_identity(globex, copy.character_id, near(face, 5, 0.4), [copy.photo_id])
            other_pack = await add_identity(
                globex, copy.character_id, near(face, 6, 0.4), [copy.photo_id], model_pack_id="antelopev2"
            )
            later_held = await add_identity(globex, copy.character_id, near(face, 7, 0.4), [copy.photo_id])
            character = (
                await globex.api.GetCharacter(pb.GetCharacterRequest(character_id=copy.character_id))
            ).character

            async def review(client: AsyncAssetsClient, version: int, status: int, reason: str) -> Any:
                request = pb.SetIdentityVersionStatusRequest(
                    character_id=copy.character_id, version=version, status=status, reason=reason
                )
                return await client.api.SetIdentityVersionStatus(request)

            same_person, active = "same person, two contracts", pb.IDENTITY_VERSION_STATUS_ACTIVE
            rejected = pb.IDENTITY_VERSION_STATUS_REJECTED
            with pytest.raises(LikenessError) as editor_review:
                await review(editor, later_held.version, active, same_person)
            with pytest.raises(LikenessError) as own_admin_approval:
                await review(globex, later_held.version, active, "it is ours, trust us")
            approved = (await review(platform, later_held.version, active, same_person)).identity_version
            with pytest.raises(LikenessError) as reviewed_twice:
                await review(
                    globex, later_held.version, pb.IDENTITY_VERSION_STATUS_REJECTED, "changed my mind"
                )
            with pytest.raises(LikenessError) as unknown_version_review:
                await review(globex, 99, rejected, "no such version")
            with pytest.raises(LikenessError) as foreign_list:
                await acme.api.ListIdentityVersions(
                    pb.ListIdentityVersionsRequest(character_id=copy.character_id)
                )
            versions = {
                version.version: version.status
                for version in (
                    await globex.api.ListIdentityVersions(
                        pb.ListIdentityVersionsRequest(character_id=copy.character_id)
                    )
                ).identity_versions
            }
            after = (
                await globex.api.GetCharacter(pb.GetCharacterRequest(character_id=copy.character_id))
            ).character
            globex_events = await globex.api.ListAuditEvents(pb.ListAuditEventsRequest(page_size=500))

    assert first.status == pb.IDENTITY_VERSION_STATUS_ACTIVE
    assert held.status == pb.IDENTITY_VERSION_STATUS_PENDING_REVIEW and held.collision_detected
    # Embeddings of different model packs are never compared.
    assert other_pack.status == pb.IDENTITY_VERSION_STATUS_ACTIVE and not other_pack.collision_detected
    assert later_held.collision_detected
    assert character.current_identity_version == other_pack.version
    assert editor_review.value.code == grpc.StatusCode.PERMISSION_DENIED
    # The brand that holds the colliding version cannot clear it itself: the platform's review does.
    assert own_admin_approval.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "service role" in own_admin_approval.value.message
    assert approved.status == pb.IDENTITY_VERSION_STATUS_ACTIVE and approved.reviewed_by == "platform-review"
    assert approved.review_reason == "same person, two contracts" and approved.HasField("review_time")
    assert reviewed_twice.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert unknown_version_review.value.code == foreign_list.value.code == grpc.StatusCode.NOT_FOUND
    assert versions == {
        1: pb.IDENTITY_VERSION_STATUS_SUPERSEDED,
        2: pb.IDENTITY_VERSION_STATUS_SUPERSEDED,
        3: pb.IDENTITY_VERSION_STATUS_SUPERSEDED,
        4: pb.IDENTITY_VERSION_STATUS_ACTIVE,
    }
    assert after.current_identity_version == 4
    # Nothing in the colliding brand's log names the other brand or its character.
    serialized = b"".join(event.SerializeToString() for event in globex_events.events)
    assert b"acme" not in serialized and acme_mia.character_id.encode() not in serialized
    assert [event.action for event in globex_events.events].count("identity_version.collision") == 2
