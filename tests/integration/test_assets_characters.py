"""Characters over gRPC: create, read, list with pages and status filter, update with a field mask and
etag, archive; brand scoping and roles."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.common.v1 import faces_pb2
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import acme_and_globex, create_brand, create_character

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def test_create_get_update_archive(assets_server, make_token) -> None:
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with AsyncAssetsClient(target, token=make_token(subject="ana")) as acme:
            await create_brand(acme, "acme")
            created = await create_character(
                acme,
                "Mia",
                description="barista",
                declared_attributes=pb.DeclaredAttributes(
                    age_range=pb.AgeRange(min_years=25, max_years=35),
                    gender=faces_pb2.GENDER_FEMALE,
                    tags=["freckles"],
                ),
            )
            fetched = (
                await acme.api.GetCharacter(pb.GetCharacterRequest(character_id=created.character_id))
            ).character
            updated = (
                await acme.api.UpdateCharacter(
                    pb.UpdateCharacterRequest(
                        character_id=created.character_id,
                        display_name="Mia B.",
                        declared_attributes=pb.DeclaredAttributes(tags=["red hair"]),
                        update_mask=_mask("display_name", "declared_attributes.tags"),
                        etag=created.etag,
                    )
                )
            ).character
            with pytest.raises(LikenessError) as stale:
                await acme.api.UpdateCharacter(
                    pb.UpdateCharacterRequest(
                        character_id=created.character_id,
                        description="x",
                        update_mask=_mask("description"),
                        etag=created.etag,
                    )
                )
            cleared = (
                await acme.api.UpdateCharacter(
                    pb.UpdateCharacterRequest(
                        character_id=created.character_id, update_mask=_mask("declared_attributes")
                    )
                )
            ).character
            archived = (
                await acme.api.ArchiveCharacter(pb.ArchiveCharacterRequest(character_id=created.character_id))
            ).character
            again = (
                await acme.api.ArchiveCharacter(pb.ArchiveCharacterRequest(character_id=created.character_id))
            ).character
            with pytest.raises(LikenessError) as archived_update:
                await acme.api.UpdateCharacter(
                    pb.UpdateCharacterRequest(
                        character_id=created.character_id, description="x", update_mask=_mask("description")
                    )
                )
            events = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(target_id=created.character_id))

    assert created.status == pb.CHARACTER_STATUS_ACTIVE
    assert created.brand_id == "acme" and created.created_by == "ana"
    assert created.current_identity_version == 0
    assert fetched == created
    assert updated.display_name == "Mia B." and updated.description == "barista"
    assert list(updated.declared_attributes.tags) == ["red hair"]
    assert updated.declared_attributes.gender == faces_pb2.GENDER_FEMALE
    assert updated.declared_attributes.age_range.max_years == 35
    assert updated.etag != created.etag
    assert stale.value.code == grpc.StatusCode.ABORTED
    assert not cleared.HasField("declared_attributes")
    assert archived.status == pb.CHARACTER_STATUS_ARCHIVED and archived.HasField("archive_time")
    assert again == archived
    assert archived_update.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert [(event.action, event.outcome) for event in events.events] == [
        ("character.create", pb.AUDIT_OUTCOME_SUCCEEDED),
        ("character.update", pb.AUDIT_OUTCOME_SUCCEEDED),
        ("character.update", pb.AUDIT_OUTCOME_SUCCEEDED),
        ("character.archive", pb.AUDIT_OUTCOME_SUCCEEDED),
        ("character.update", pb.AUDIT_OUTCOME_FAILED),
    ]
    assert list(events.events[1].details["update_mask"]) == ["declared_attributes.tags", "display_name"]


async def test_list_is_newest_first_paginated_and_filtered(assets_server, make_token) -> None:
    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as acme:
            await create_brand(acme, "acme")
            ids = [(await create_character(acme, f"c{index}")).character_id for index in range(7)]
            await acme.api.ArchiveCharacter(pb.ArchiveCharacterRequest(character_id=ids[2]))
            seen: list[str] = []
            token = ""
            while True:
                page = await acme.api.ListCharacters(pb.ListCharactersRequest(page_size=3, page_token=token))
                assert len(page.characters) <= 3
                seen += [character.character_id for character in page.characters]
                token = page.next_page_token
                if not token:
                    break
            archived = await acme.api.ListCharacters(
                pb.ListCharactersRequest(status=pb.CHARACTER_STATUS_ARCHIVED)
            )
            active = await acme.api.ListCharacters(
                pb.ListCharactersRequest(status=pb.CHARACTER_STATUS_ACTIVE)
            )
            with pytest.raises(LikenessError) as mixed:
                first = await acme.api.ListCharacters(pb.ListCharactersRequest(page_size=2))
                await acme.api.ListCharacters(
                    pb.ListCharactersRequest(
                        page_size=2, page_token=first.next_page_token, status=pb.CHARACTER_STATUS_ACTIVE
                    )
                )
    assert seen == list(reversed(ids))
    assert [character.character_id for character in archived.characters] == [ids[2]]
    assert len(active.characters) == 6 and ids[2] not in {c.character_id for c in active.characters}
    assert mixed.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_other_brands_ids_are_not_found_and_roles_are_enforced(assets_server, make_token) -> None:
    async with assets_server() as server:
        async with acme_and_globex(server, make_token, Role.VIEWER) as (acme, globex, viewer):
            mine = await create_character(acme, "Mia")
            errors = {}
            for name, call in {
                "foreign_get": globex.api.GetCharacter(
                    pb.GetCharacterRequest(character_id=mine.character_id)
                ),
                "unknown_get": acme.api.GetCharacter(pb.GetCharacterRequest(character_id=UNKNOWN)),
                "foreign_archive": globex.api.ArchiveCharacter(
                    pb.ArchiveCharacterRequest(character_id=mine.character_id)
                ),
                "viewer_create": viewer.api.CreateCharacter(pb.CreateCharacterRequest(display_name="x")),
                "viewer_archive": viewer.api.ArchiveCharacter(
                    pb.ArchiveCharacterRequest(character_id=mine.character_id)
                ),
                "bad_id": acme.api.GetCharacter(pb.GetCharacterRequest(character_id="not-a-uuid")),
                "empty_name": acme.api.CreateCharacter(pb.CreateCharacterRequest(display_name="")),
                "empty_mask": acme.api.UpdateCharacter(
                    pb.UpdateCharacterRequest(character_id=mine.character_id)
                ),
            }.items():
                with pytest.raises(LikenessError) as caught:
                    await call
                errors[name] = caught.value
            globex_list = await globex.api.ListCharacters(pb.ListCharactersRequest())
            refused = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(page_size=100))
            still = await viewer.api.GetCharacter(pb.GetCharacterRequest(character_id=mine.character_id))
        async with AsyncAssetsClient(
            f"127.0.0.1:{server.port}", token=make_token(brand="initech")
        ) as initech:
            with pytest.raises(LikenessError) as no_brand:
                await create_character(initech, "Bob")

    assert errors["foreign_get"].code == grpc.StatusCode.NOT_FOUND
    assert errors["unknown_get"].code == grpc.StatusCode.NOT_FOUND
    # Another brand's id and an unknown id read the same, apart from the id itself.
    assert errors["foreign_get"].message.replace(mine.character_id, "?") == errors[
        "unknown_get"
    ].message.replace(UNKNOWN, "?")
    assert errors["foreign_archive"].code == grpc.StatusCode.NOT_FOUND
    assert errors["viewer_create"].code == grpc.StatusCode.PERMISSION_DENIED
    assert errors["viewer_archive"].code == grpc.StatusCode.PERMISSION_DENIED
    assert errors["bad_id"].code == grpc.StatusCode.INVALID_ARGUMENT
    assert errors["empty_name"].code == grpc.StatusCode.INVALID_ARGUMENT
    assert errors["empty_mask"].code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(globex_list.characters) == []
    # Writes refused for lack of a role are in the brand's audit trail.
    assert [
        (event.action, event.target_id, list(event.actor_roles))
        for event in refused.events
        if event.outcome == pb.AUDIT_OUTCOME_DENIED
    ] == [("character.create", "", ["viewer"]), ("character.archive", mine.character_id, ["viewer"])]
    assert still.character.status == pb.CHARACTER_STATUS_ACTIVE
    # A valid token for a brand nobody created: the brand is not found (and nothing is created).
    assert no_brand.value.code == grpc.StatusCode.NOT_FOUND
    assert "brand 'initech' not found" in no_brand.value.message
