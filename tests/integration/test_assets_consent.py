"""Consent over gRPC: record (evidence bound by SHA-256), revoke, read, list, and the check with the
contract's denial reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.common.v1 import usage_pb2
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import (
    JPEG,
    PNG,
    acme_and_globex,
    create_brand,
    create_character,
    record_consent,
    stamp,
    upload,
)

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _check(
    character_id: str,
    purpose=usage_pb2.USAGE_PURPOSE_ADVERTISING,
    channel=usage_pb2.USAGE_CHANNEL_TV,
    territory="DE",
    at=None,
):
    request = pb.CheckConsentRequest(
        character_id=character_id, purpose=purpose, channel=channel, territory=territory
    )
    if at is not None:
        request.at.CopyFrom(stamp(at))
    return request


async def test_check_answers_with_the_reason_in_contract_order(assets_server, make_token) -> None:
    now = datetime.now(UTC)
    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as acme:
            await create_brand(acme, "acme")
            mia = await create_character(acme, "Mia")
            evidence = await upload(acme, JPEG, pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
            none = await acme.api.CheckConsent(_check(mia.character_id))
            tv_de = await record_consent(
                acme, mia.character_id, evidence, territories=["DE"], valid_until=now + timedelta(days=30)
            )
            world = await record_consent(
                acme,
                mia.character_id,
                evidence,
                channels=[usage_pb2.USAGE_CHANNEL_SOCIAL],
                territories=["WORLD"],
            )
            answers = {
                "allowed": await acme.api.CheckConsent(_check(mia.character_id)),
                "purpose": await acme.api.CheckConsent(
                    _check(mia.character_id, purpose=usage_pb2.USAGE_PURPOSE_SOCIAL)
                ),
                "channel": await acme.api.CheckConsent(
                    _check(mia.character_id, channel=usage_pb2.USAGE_CHANNEL_PRINT)
                ),
                "territory": await acme.api.CheckConsent(_check(mia.character_id, territory="US")),
                "world_social_us": await acme.api.CheckConsent(
                    _check(mia.character_id, channel=usage_pb2.USAGE_CHANNEL_SOCIAL, territory="US")
                ),
                "world_is_world_only": await acme.api.CheckConsent(
                    _check(mia.character_id, territory="WORLD")
                ),
                "expired": await acme.api.CheckConsent(_check(mia.character_id, at=now + timedelta(days=31))),
                "not_yet": await acme.api.CheckConsent(_check(mia.character_id, at=now - timedelta(days=3))),
            }
            revoked = (
                await acme.api.RevokeConsent(
                    pb.RevokeConsentRequest(consent_id=tv_de.consent_id, reason="asked")
                )
            ).consent
            revoked_again = (
                await acme.api.RevokeConsent(
                    pb.RevokeConsentRequest(consent_id=tv_de.consent_id, reason="again")
                )
            ).consent
            answers["revoked"] = await acme.api.CheckConsent(_check(mia.character_id))
            answers["before_revocation"] = await acme.api.CheckConsent(_check(mia.character_id, at=now))
            fetched = (await acme.api.GetConsent(pb.GetConsentRequest(consent_id=tv_de.consent_id))).consent
            listed = await acme.api.ListConsents(
                pb.ListConsentsRequest(character_id=mia.character_id, page_size=1)
            )
            rest = await acme.api.ListConsents(
                pb.ListConsentsRequest(
                    character_id=mia.character_id, page_size=1, page_token=listed.next_page_token
                )
            )
            await acme.api.ArchiveCharacter(pb.ArchiveCharacterRequest(character_id=mia.character_id))
            answers["archived"] = await acme.api.CheckConsent(_check(mia.character_id))
            checks = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(action="consent.check"))

    assert (
        not none.allowed and none.denial_reason == pb.CONSENT_DENIAL_REASON_NO_CONSENT and not none.consent_id
    )
    assert answers["allowed"].allowed and answers["allowed"].consent_id == tv_de.consent_id
    expected = {
        # Both records fail on the same check: the most recently recorded one is reported.
        "purpose": (pb.CONSENT_DENIAL_REASON_PURPOSE_NOT_COVERED, world.consent_id),
        "channel": (pb.CONSENT_DENIAL_REASON_CHANNEL_NOT_COVERED, world.consent_id),
        # The DE record fails on the territory, later in the order than the WORLD record's channel.
        "territory": (pb.CONSENT_DENIAL_REASON_TERRITORY_NOT_COVERED, tv_de.consent_id),
        "world_is_world_only": (pb.CONSENT_DENIAL_REASON_TERRITORY_NOT_COVERED, tv_de.consent_id),
        "expired": (pb.CONSENT_DENIAL_REASON_CHANNEL_NOT_COVERED, world.consent_id),
        "not_yet": (pb.CONSENT_DENIAL_REASON_NOT_YET_VALID, world.consent_id),
        "revoked": (pb.CONSENT_DENIAL_REASON_CHANNEL_NOT_COVERED, world.consent_id),
        "archived": (pb.CONSENT_DENIAL_REASON_CHARACTER_ARCHIVED, ""),
    }
    for name, (reason, consent_id) in expected.items():
        assert not answers[name].allowed, name
        assert (answers[name].denial_reason, answers[name].consent_id) == (reason, consent_id), name
    # What the consent does cover is said too, so the user knows what to record.
    expected_message = f"consent {world.consent_id} does not cover channel PRINT (it covers SOCIAL)"
    assert answers["channel"].message == expected_message
    assert answers["world_social_us"].allowed and answers["world_social_us"].consent_id == world.consent_id
    assert answers["before_revocation"].allowed
    assert revoked.state == pb.CONSENT_STATE_REVOKED and revoked.revoke_reason == "asked"
    assert revoked_again == revoked
    assert fetched == revoked
    assert [record.consent_id for record in listed.consents] == [world.consent_id]
    assert [record.consent_id for record in rest.consents] == [tv_de.consent_id] and not rest.next_page_token
    assert len(checks.events) == len(answers) + 1
    assert checks.events[0].details["denial_reason"] == "no_consent"


async def test_revoked_and_expired_records_deny_with_their_reason(assets_server, make_token) -> None:
    now = datetime.now(UTC)
    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as acme:
            await create_brand(acme, "acme")
            evidence = await upload(acme, JPEG, pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
            expired_character = await create_character(acme, "Old")
            expired = await record_consent(
                acme,
                expired_character.character_id,
                evidence,
                valid_from=now - timedelta(days=10),
                valid_until=now - timedelta(days=1),
            )
            revoked_character = await create_character(acme, "Gone")
            revoked = await record_consent(acme, revoked_character.character_id, evidence)
            await acme.api.RevokeConsent(
                pb.RevokeConsentRequest(consent_id=revoked.consent_id, reason="withdrawn")
            )
            expired_answer = await acme.api.CheckConsent(_check(expired_character.character_id))
            revoked_answer = await acme.api.CheckConsent(_check(revoked_character.character_id))
            state = (
                await acme.api.GetConsent(pb.GetConsentRequest(consent_id=expired.consent_id))
            ).consent.state
    assert (expired_answer.allowed, expired_answer.denial_reason, expired_answer.consent_id) == (
        False,
        pb.CONSENT_DENIAL_REASON_EXPIRED,
        expired.consent_id,
    )
    assert (revoked_answer.allowed, revoked_answer.denial_reason, revoked_answer.consent_id) == (
        False,
        pb.CONSENT_DENIAL_REASON_REVOKED,
        revoked.consent_id,
    )
    assert state == pb.CONSENT_STATE_EXPIRED


async def test_record_consent_errors(assets_server, make_token) -> None:
    async with assets_server() as server:
        async with acme_and_globex(server, make_token, Role.EDITOR) as (acme, globex, editor):
            mia = await create_character(acme, "Mia")
            evidence = await upload(acme, JPEG, pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
            photo = await upload(acme, PNG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
            foreign_evidence = await upload(globex, JPEG, pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
            good = await record_consent(acme, mia.character_id, evidence)

            def request(**changes):
                base = dict(
                    character_id=mia.character_id,
                    subject_name="Mia Example",
                    purposes=[usage_pb2.USAGE_PURPOSE_ADVERTISING],
                    channels=[usage_pb2.USAGE_CHANNEL_TV],
                    territories=["DE"],
                    valid_from=stamp(datetime.now(UTC)),
                    evidence_object_id=evidence.object_id,
                    evidence_sha256=evidence.sha256,
                )
                base.update(changes)
                return pb.RecordConsentRequest(**base)

            cases = {
                "unknown_character": (acme, request(character_id=UNKNOWN)),
                "foreign_character": (
                    globex,
                    request(
                        evidence_object_id=foreign_evidence.object_id, evidence_sha256=foreign_evidence.sha256
                    ),
                ),
                "foreign_evidence": (acme, request(evidence_object_id=foreign_evidence.object_id)),
                "wrong_purpose": (
                    acme,
                    request(evidence_object_id=photo.object_id, evidence_sha256=photo.sha256),
                ),
                "wrong_sha": (acme, request(evidence_sha256="0" * 64)),
                "unassigned_territory": (acme, request(territories=["DE", "XX"])),
                "lowercase_territory": (acme, request(territories=["de"])),
                "no_purpose": (acme, request(purposes=[])),
                "until_before_from": (
                    acme,
                    request(valid_until=stamp(datetime.now(UTC) - timedelta(days=1))),
                ),
                # Later to the nanosecond, equal to the microsecond consent times are stored at.
                "until_a_nanosecond_after_from": (
                    acme,
                    request(
                        valid_from=timestamp_pb2.Timestamp(seconds=1_900_000_000),
                        valid_until=timestamp_pb2.Timestamp(seconds=1_900_000_000, nanos=999),
                    ),
                ),
                "a_crowd_of_bad_territories": (acme, request(territories=[f"x{n}" for n in range(250)])),
            }
            errors = {}
            for name, (client, message) in cases.items():
                with pytest.raises(LikenessError) as caught:
                    await client.api.RecordConsent(message)
                errors[name] = caught.value
            with pytest.raises(LikenessError) as editor_revokes:
                await editor.api.RevokeConsent(
                    pb.RevokeConsentRequest(consent_id=good.consent_id, reason="x")
                )
            with pytest.raises(LikenessError) as unknown_revoke:
                await acme.api.RevokeConsent(pb.RevokeConsentRequest(consent_id=UNKNOWN, reason="x"))
            with pytest.raises(LikenessError) as foreign_get:
                await globex.api.GetConsent(pb.GetConsentRequest(consent_id=good.consent_id))
            with pytest.raises(LikenessError) as foreign_check:
                await globex.api.CheckConsent(_check(mia.character_id))
            with pytest.raises(LikenessError) as foreign_list:
                await globex.api.ListConsents(pb.ListConsentsRequest(character_id=mia.character_id))

    codes = {name: error.code for name, error in errors.items()}
    assert codes == {
        "unknown_character": grpc.StatusCode.NOT_FOUND,
        "foreign_character": grpc.StatusCode.NOT_FOUND,
        "foreign_evidence": grpc.StatusCode.NOT_FOUND,
        "wrong_purpose": grpc.StatusCode.FAILED_PRECONDITION,
        "wrong_sha": grpc.StatusCode.FAILED_PRECONDITION,
        "unassigned_territory": grpc.StatusCode.INVALID_ARGUMENT,
        "lowercase_territory": grpc.StatusCode.INVALID_ARGUMENT,
        "no_purpose": grpc.StatusCode.INVALID_ARGUMENT,
        "until_before_from": grpc.StatusCode.INVALID_ARGUMENT,
        "until_a_nanosecond_after_from": grpc.StatusCode.INVALID_ARGUMENT,
        "a_crowd_of_bad_territories": grpc.StatusCode.INVALID_ARGUMENT,
    }
    # However many items are wrong, the status fits a default client's metadata limit: the first
    # violations in full, then a count of the rest.
    crowd = errors["a_crowd_of_bad_territories"].detail(error_details_pb2.BadRequest).field_violations
    assert 1 < len(crowd) <= 21 and "more violations" in crowd[-1].description
    violations = errors["unassigned_territory"].detail(error_details_pb2.BadRequest).field_violations
    assert [violation.field for violation in violations] == ["territories[1]"]
    assert editor_revokes.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert foreign_get.value.code == grpc.StatusCode.NOT_FOUND
    assert unknown_revoke.value.code == grpc.StatusCode.NOT_FOUND
    assert foreign_check.value.code == grpc.StatusCode.NOT_FOUND
    assert foreign_list.value.code == grpc.StatusCode.NOT_FOUND
