"""Likeness search (the brand's current identities, best first) and erasure (after which nothing of
the character is left in any table or in the bucket but its tombstone, the consent records the
contract keeps, and the audit trail)."""

from __future__ import annotations

import os
import uuid

import grpc
import numpy as np
import psycopg
import pytest

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.common.v1 import usage_pb2
from likeness.assets.vectors import register as register_embeddings
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import (
    C2PA,
    MP4,
    acme_and_globex,
    add_identity,
    consenting_character,
    cosine,
    create_brand,
    near,
    quality,
    unit_vector,
    upload,
)
from tests.integration.test_assets_generated import record_request, usage


def _search(z_id, top_k=0, min_similarity=None, model_pack_id="buffalo_l") -> pb.SearchLikenessRequest:
    request = pb.SearchLikenessRequest(z_id=z_id, model_pack_id=model_pack_id, top_k=top_k)
    if min_similarity is not None:
        request.min_similarity = min_similarity
    return request


async def test_search_finds_the_brands_current_identities_best_first(assets_server, make_token) -> None:
    faces = [unit_vector(100 + index) for index in range(4)]
    async with assets_server() as server:
        async with acme_and_globex(server, make_token, Role.VIEWER) as (acme, globex, viewer):
            actors = [await consenting_character(acme, f"A{index}") for index in range(4)]
            for actor, face in zip(actors, faces, strict=True):
                await add_identity(acme, actor.character_id, face, [actor.photo_id])
            # A1's current identity moves away from faces[1]; its old version must not match.
            await add_identity(acme, actors[1].character_id, unit_vector(555), [actors[1].photo_id])
            await acme.api.ArchiveCharacter(pb.ArchiveCharacterRequest(character_id=actors[2].character_id))
            other = await consenting_character(globex, "G")
            query = near(faces[0], 1, 0.5)
            # Globex's identity is the closest of all to the query, and held for review as a collision.
            await add_identity(globex, other.character_id, near(faces[0], 2, 0.1), [other.photo_id])
            ranked = (await viewer.api.SearchLikeness(_search(query, top_k=10))).matches
            top_one = (await viewer.api.SearchLikeness(_search(query, top_k=1))).matches
            close_only = (await viewer.api.SearchLikeness(_search(query, min_similarity=0.5))).matches
            other_pack = (await viewer.api.SearchLikeness(_search(query, model_pack_id="antelopev2"))).matches
            archived = (await viewer.api.SearchLikeness(_search(faces[2], top_k=1))).matches
            with pytest.raises(LikenessError) as not_unit:
                await viewer.api.SearchLikeness(_search([value * 3 for value in query]))
            with pytest.raises(LikenessError) as too_many:
                await viewer.api.SearchLikeness(_search(query, top_k=51))
            searches = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(action="likeness.search"))

    ids = [match.character_id for match in ranked]
    assert ids[0] == actors[0].character_id
    assert set(ids) == {actor.character_id for actor in actors}
    assert [match.similarity for match in ranked] == sorted((m.similarity for m in ranked), reverse=True)
    assert ranked[0].similarity == pytest.approx(cosine(query, faces[0]), abs=1e-5)
    assert ranked[0].display_name == "A0" and ranked[0].identity_version == 1
    a1 = next(match for match in ranked if match.character_id == actors[1].character_id)
    assert a1.identity_version == 2
    assert a1.similarity == pytest.approx(cosine(query, unit_vector(555)), abs=1e-5)
    assert [match.character_id for match in top_one] == [actors[0].character_id]
    assert [match.character_id for match in close_only] == [actors[0].character_id]
    assert list(other_pack) == []
    assert archived[0].character_id == actors[2].character_id
    assert archived[0].character_status == pb.CHARACTER_STATUS_ARCHIVED
    assert not_unit.value.code == too_many.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(searches.events) == 5


async def _table_rows(database_url: str) -> dict[str, list[str]]:
    """Every row of every table in the assets schema, as JSON text."""
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'assets'"
        )
        tables = [row[0] for row in await cursor.fetchall()]
        rows = {}
        for table in tables:
            cursor = await connection.execute(f'SELECT row_to_json(t)::text FROM assets."{table}" AS t')
            rows[table] = [row[0] for row in await cursor.fetchall()]
        return rows


@pytest.mark.s3
async def test_erasure_leaves_only_the_tombstone_consent_and_audit(
    assets_server, make_token, s3_endpoint, database_url
) -> None:
    marker = uuid.uuid4().hex
    bucket = f"erasure-{os.urandom(4).hex()}"
    s3 = {
        "s3_endpoint": s3_endpoint.endpoint,
        "s3_access_key": s3_endpoint.access_key,
        "s3_secret_key": s3_endpoint.secret_key,
        "s3_region": s3_endpoint.region,
        "s3_secure": False,
        "s3_bucket": bucket,
    }
    face = unit_vector(7)
    async with assets_server(**s3) as server:
        target = f"127.0.0.1:{server.port}"
        async with (
            AsyncAssetsClient(target, token=make_token(brand="acme")) as acme,
            AsyncAssetsClient(target, token=make_token(brand="acme", roles=[Role.SERVICE])) as generator,
            AsyncAssetsClient(target, token=make_token(brand="acme", roles=[Role.EDITOR])) as editor,
            AsyncAssetsClient(target, token=make_token(brand="globex")) as globex,
        ):
            await create_brand(acme, "acme")
            mia = await consenting_character(acme, f"Mia {marker}")
            await acme.api.UpdateCharacter(
                pb.UpdateCharacterRequest(
                    character_id=mia.character_id,
                    description=f"description {marker}",
                    declared_attributes=pb.DeclaredAttributes(tags=[f"tag-{marker}"]),
                    update_mask={"paths": ["description", "declared_attributes"]},
                )
            )
            second_photo = await upload(
                acme, b"\x89PNG\r\n\x1a\n" + marker.encode(), pb.OBJECT_PURPOSE_REFERENCE_PHOTO
            )
            await add_identity(acme, mia.character_id, face, [mia.photo_id])
            await add_identity(
                acme, mia.character_id, near(face, 1, 0.2), [mia.photo_id, second_photo.object_id]
            )
            leo = await consenting_character(acme, "Leo")
            await add_identity(acme, leo.character_id, unit_vector(8), [leo.photo_id])
            shared_clip = await upload(generator, MP4 + b"shared", pb.OBJECT_PURPOSE_GENERATED_CLIP)
            shared_manifest = await upload(generator, C2PA + b"shared", pb.OBJECT_PURPOSE_C2PA_MANIFEST)
            leo_clip = await upload(generator, MP4 + b"leo", pb.OBJECT_PURPOSE_GENERATED_CLIP)
            leo_manifest = await upload(generator, C2PA + b"leo", pb.OBJECT_PURPOSE_C2PA_MANIFEST)
            spare_clip = await upload(generator, MP4 + b"spare", pb.OBJECT_PURPOSE_GENERATED_CLIP)
            job = str(uuid.uuid4())
            shared = (
                await generator.api.RecordGeneratedAsset(
                    record_request(
                        shared_clip.object_id,
                        shared_manifest.object_id,
                        job,
                        [usage(mia.character_id, mia.consent_id, 2), usage(leo.character_id, leo.consent_id)],
                    )
                )
            ).generated_asset
            leo_only = (
                await generator.api.RecordGeneratedAsset(
                    record_request(
                        leo_clip.object_id,
                        leo_manifest.object_id,
                        job,
                        [usage(leo.character_id, leo.consent_id)],
                    )
                )
            ).generated_asset
            # Cached before the erasure: the cache must not serve it afterwards.
            await generator.api.GetIdentity(pb.GetIdentityRequest(character_id=mia.character_id))
            before = (await acme.api.SearchLikeness(_search(face, top_k=5))).matches

            with pytest.raises(LikenessError) as editor_erases:
                await editor.api.EraseCharacter(
                    pb.EraseCharacterRequest(character_id=mia.character_id, reason="x")
                )
            with pytest.raises(LikenessError) as foreign_erases:
                await globex.api.EraseCharacter(
                    pb.EraseCharacterRequest(character_id=mia.character_id, reason="x")
                )
            erased = await acme.api.EraseCharacter(
                pb.EraseCharacterRequest(character_id=mia.character_id, reason="data subject request DSR-1")
            )
            again = await acme.api.EraseCharacter(
                pb.EraseCharacterRequest(character_id=mia.character_id, reason="twice")
            )
            tombstone = (
                await acme.api.GetCharacter(pb.GetCharacterRequest(character_id=mia.character_id))
            ).character
            with pytest.raises(LikenessError) as read_after:
                await generator.api.GetIdentity(pb.GetIdentityRequest(character_id=mia.character_id))
            versions = (
                await acme.api.ListIdentityVersions(
                    pb.ListIdentityVersionsRequest(character_id=mia.character_id)
                )
            ).identity_versions
            after = (await acme.api.SearchLikeness(_search(face, top_k=5))).matches
            shared_after = (
                await acme.api.GetGeneratedAsset(
                    pb.GetGeneratedAssetRequest(generated_asset_id=shared.generated_asset_id)
                )
            ).generated_asset
            leo_after = (
                await acme.api.GetGeneratedAsset(
                    pb.GetGeneratedAssetRequest(generated_asset_id=leo_only.generated_asset_id)
                )
            ).generated_asset
            with pytest.raises(LikenessError) as photo_gone:
                await acme.api.GetObjectInfo(pb.GetObjectInfoRequest(object_id=mia.photo_id))
            consent = (await acme.api.GetConsent(pb.GetConsentRequest(consent_id=mia.consent_id))).consent
            after_erasure = {}
            for name, call in {
                "archive": acme.api.ArchiveCharacter(
                    pb.ArchiveCharacterRequest(character_id=mia.character_id)
                ),
                "consent": acme.api.RecordConsent(
                    pb.RecordConsentRequest(
                        character_id=mia.character_id,
                        subject_name="Mia",
                        purposes=[usage_pb2.USAGE_PURPOSE_ADVERTISING],
                        channels=[usage_pb2.USAGE_CHANNEL_TV],
                        territories=["DE"],
                        valid_from=consent.valid_from,
                        evidence_object_id=mia.evidence.object_id,
                        evidence_sha256=mia.evidence.sha256,
                    )
                ),
                "identity": acme.api.AddIdentityVersion(
                    pb.AddIdentityVersionRequest(
                        character_id=mia.character_id,
                        z_id=face,
                        model_pack_id="buffalo_l",
                        quality=quality(1),
                        reference_photo_object_ids=[leo.photo_id],
                    )
                ),
                "clip": generator.api.RecordGeneratedAsset(
                    record_request(
                        spare_clip.object_id,
                        leo_manifest.object_id,
                        job,
                        [usage(mia.character_id, mia.consent_id)],
                    )
                ),
            }.items():
                with pytest.raises(LikenessError) as caught:
                    await call
                after_erasure[name] = caught.value.code
            check = await acme.api.CheckConsent(
                pb.CheckConsentRequest(
                    character_id=mia.character_id,
                    purpose=usage_pb2.USAGE_PURPOSE_ADVERTISING,
                    channel=usage_pb2.USAGE_CHANNEL_TV,
                    territory="DE",
                )
            )
            events = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(action="character.erase"))
            chain = await acme.api.VerifyAuditChain(pb.VerifyAuditChainRequest())

    rows = await _table_rows(database_url)
    client = s3_endpoint.client()
    keys = {item.object_name for item in client.list_objects(bucket, recursive=True)}

    assert before[0].character_id == mia.character_id
    assert editor_erases.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert foreign_erases.value.code == grpc.StatusCode.NOT_FOUND
    assert (erased.embeddings_deleted, erased.objects_deleted, erased.generated_assets_erased) == (2, 4, 1)
    assert not erased.already_erased
    assert again.already_erased and again.audit_event_id == erased.audit_event_id
    assert again.erase_time == erased.erase_time
    assert tombstone.status == pb.CHARACTER_STATUS_ERASED and tombstone.HasField("erase_time")
    assert (tombstone.display_name, tombstone.description) == ("", "")
    assert not tombstone.HasField("declared_attributes")
    assert read_after.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert {version.status for version in versions} == {pb.IDENTITY_VERSION_STATUS_ERASED}
    assert all(not version.HasField("quality") for version in versions)
    assert mia.character_id not in {match.character_id for match in after}
    assert shared_after.HasField("erase_time") and not leo_after.HasField("erase_time")
    assert photo_gone.value.code == grpc.StatusCode.NOT_FOUND
    assert consent.consent_id == mia.consent_id
    assert set(after_erasure.values()) == {grpc.StatusCode.FAILED_PRECONDITION}, after_erasure
    assert check.denial_reason == pb.CONSENT_DENIAL_REASON_CHARACTER_ERASED
    # The editor's refused attempt, then the erasure (the repeated call changed nothing).
    assert [(event.outcome, list(event.actor_roles)) for event in events.events] == [
        (pb.AUDIT_OUTCOME_DENIED, ["editor"]),
        (pb.AUDIT_OUTCOME_SUCCEEDED, ["admin"]),
    ]
    assert events.events[1].event_id == erased.audit_event_id
    assert events.events[1].details["reason"] == "data subject request DSR-1"
    assert chain.ok

    # Nothing descriptive of Mia survives anywhere in the database.
    for table, texts in rows.items():
        for text in texts:
            assert marker not in text, table
    # Her id survives only where the contract keeps a record.
    holders = {table for table, texts in rows.items() if any(mia.character_id in text for text in texts)}
    assert holders <= {
        "characters",  # the tombstone
        "identity_versions",  # erased versions: numbers and times, no embedding
        "consent_records",  # the legal basis of past use
        "generated_assets",  # the provenance record, its objects deleted
        "generated_asset_characters",
        "audit_events",
    }
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            "SELECT count(*) FROM assets.identity_versions"
            " WHERE character_id = %s AND (z_id IS NOT NULL OR quality IS NOT NULL"
            " OR cardinality(reference_photo_object_ids) > 0)",
            (mia.character_id,),
        )
        assert (await cursor.fetchone())[0] == 0
    deleted = {mia.photo_id, second_photo.object_id, shared_clip.object_id, shared_manifest.object_id}
    assert not any(object_id in text for object_id in deleted for text in rows["objects"])
    assert keys == {
        f"objects/acme/{object_id}"
        for object_id in (
            mia.evidence.object_id,
            leo.evidence.object_id,
            leo.photo_id,
            leo_clip.object_id,
            leo_manifest.object_id,
            spare_clip.object_id,
        )
    }


async def test_a_narrow_search_walks_past_other_brands_rows_and_returns_all_it_was_asked_for(
    assets_server, make_token, database_url
) -> None:
    """ef_search 4 over 2,000 stored identities whose 400 nearest to the query are another brand's:
    the connection's iterative scan walks past them to the brand's own, and a top_k above ef_search
    still gets top_k rows."""
    rng = np.random.default_rng(5)
    query = np.asarray(unit_vector(900), dtype=np.float32)

    def around(centre: np.ndarray, count: int, similarity: float) -> np.ndarray:
        noise = rng.standard_normal((count, centre.shape[0]))
        noise -= np.outer(noise @ centre, centre)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        return (similarity * centre + np.sqrt(1 - similarity**2) * noise).astype(np.float32)

    unrelated = rng.standard_normal((1592, 512)).astype(np.float32)
    unrelated /= np.linalg.norm(unrelated, axis=1, keepdims=True)
    acme_close = around(query, 8, 0.5)
    rows = [("globex", row, False) for row in around(query, 400, 0.9)]
    rows += [("acme", row, False) for row in unrelated] + [("acme", row, True) for row in acme_close]
    close_ids: list[str] = []
    async with assets_server(search_ef=4) as server:
        async with acme_and_globex(server, make_token) as (acme, _globex):
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
                register_embeddings(connection.adapters)
                await connection.execute("SET search_path TO assets, public")
                for brand, row, close in rows:
                    character_id = uuid.uuid4()
                    if close:
                        close_ids.append(str(character_id))
                    await connection.execute(
                        "INSERT INTO characters (character_id, brand_id, display_name, status,"
                        " current_identity_version, created_by) VALUES (%s, %s, 'x', 'active', 1, 'test')",
                        (character_id, brand),
                    )
                    await connection.execute(
                        "INSERT INTO identity_versions (character_id, version, brand_id, status, z_id,"
                        " model_pack_id, quality, created_by) VALUES"
                        " (%s, 1, %s, 'active', %b::float4[]::vector, 'buffalo_l', '{}', 'test')",
                        (character_id, brand, row),
                    )
                await connection.execute("ANALYZE identity_versions")
                plan = await connection.execute(
                    "EXPLAIN SELECT character_id FROM identity_versions WHERE brand_id = 'acme'"
                    " AND status = 'active' AND model_pack_id = 'buffalo_l'"
                    " ORDER BY z_id <=> %b::float4[]::vector LIMIT 6",
                    (query,),
                )
                plan_text = "\n".join(row[0] for row in await plan.fetchall())
            best = (await acme.api.SearchLikeness(_search(query.tolist(), top_k=1))).matches
            six = (await acme.api.SearchLikeness(_search(query.tolist(), top_k=6))).matches

    # The brand's rows are most of the table, so the planner takes the HNSW index (whose settings
    # this test is about) rather than filtering first.
    assert "identity_versions_z_id" in plan_text
    assert len(best) == 1 and best[0].character_id in close_ids
    assert len(six) == 6 and {match.character_id for match in six} <= set(close_ids)
    assert [match.similarity for match in six] == sorted((match.similarity for match in six), reverse=True)
