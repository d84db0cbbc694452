"""Many writers at once: every row lands, the brand's audit chain stays one unbroken line, and an
edited audit row is found by VerifyAuditChain."""

from __future__ import annotations

import asyncio

import psycopg
from google.protobuf import field_mask_pb2

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient
from tests.assets_support import (
    JPEG,
    PNG,
    add_identity,
    create_brand,
    create_character,
    record_consent,
    tamper_audit,
    unit_vector,
    upload,
)

CLIENTS = 8
WRITES_PER_CLIENT = 50


async def _writer(client: AsyncAssetsClient, index: int, evidence_id: str) -> dict[str, int]:
    """50 writes cycling through five kinds; returns how many of each it made."""
    made = {"characters": 0, "updates": 0, "consents": 0, "objects": 0, "identities": 0}
    character_id = ""
    photo_id = ""
    for step in range(WRITES_PER_CLIENT):
        kind = step % 5
        if kind == 0:
            character_id = (await create_character(client, f"w{index}-{step}")).character_id
            made["characters"] += 1
        elif kind == 1:
            await client.api.UpdateCharacter(
                pb.UpdateCharacterRequest(
                    character_id=character_id,
                    description=f"step {step}",
                    update_mask=field_mask_pb2.FieldMask(paths=["description"]),
                )
            )
            made["updates"] += 1
        elif kind == 2:
            evidence = await client.api.GetObjectInfo(pb.GetObjectInfoRequest(object_id=evidence_id))
            await record_consent(client, character_id, evidence.info)
            made["consents"] += 1
        elif kind == 3:
            photo_id = (
                await upload(client, PNG + f"{index}-{step}".encode(), pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
            ).object_id
            made["objects"] += 1
        else:
            await add_identity(client, character_id, unit_vector(index * 1000 + step), [photo_id])
            made["identities"] += 1
    return made


async def test_eight_clients_fifty_writes_each(assets_server, make_token, database_url) -> None:
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        clients = [
            AsyncAssetsClient(target, token=make_token(subject=f"writer-{index}", roles=[Role.ADMIN]))
            for index in range(CLIENTS)
        ]
        try:
            await create_brand(clients[0], "acme")
            evidence = [
                (await upload(client, JPEG + bytes([index]), pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)).object_id
                for index, client in enumerate(clients)
            ]
            results = await asyncio.gather(
                *(_writer(client, index, evidence[index]) for index, client in enumerate(clients))
            )
            intact = await clients[0].api.VerifyAuditChain(pb.VerifyAuditChainRequest())
            characters = await clients[0].api.ListCharacters(pb.ListCharactersRequest(page_size=500))
            await tamper_audit(
                database_url, "UPDATE audit_events SET actor_subject = 'someone-else' WHERE sequence = 123"
            )
            broken = await clients[0].api.VerifyAuditChain(pb.VerifyAuditChainRequest())
        finally:
            for client in clients:
                await client.close()

    totals = {kind: sum(result[kind] for result in results) for kind in results[0]}
    assert totals == {"characters": 80, "updates": 80, "consents": 80, "objects": 80, "identities": 80}
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        counts = {}
        for table in ("characters", "consent_records", "objects", "identity_versions"):
            cursor = await connection.execute(f"SELECT count(*) FROM assets.{table}")
            counts[table] = (await cursor.fetchone())[0]
        cursor = await connection.execute(
            "SELECT min(sequence), max(sequence), count(*) FROM assets.audit_events"
        )
        first, last, events = await cursor.fetchone()
        cursor = await connection.execute(
            "SELECT count(*) FROM assets.characters WHERE description <> '' AND current_identity_version = 1"
        )
        complete = (await cursor.fetchone())[0]
    assert counts == {"characters": 80, "consent_records": 80, "objects": 88, "identity_versions": 80}
    assert complete == 80
    assert len(characters.characters) == 80
    # brand + 8 evidence uploads + 400 writes, then the two verifications.
    assert (first, last, events) == (1, 411, 411)
    assert intact.ok and intact.events_checked == 409
    assert not broken.ok
    assert broken.first_broken_link.sequence == 123
    assert broken.first_broken_link.kind == pb.CHAIN_BREAK_KIND_HASH_MISMATCH
    assert broken.events_checked == 122
