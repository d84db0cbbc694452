"""The identity cache across two assets servers on one database: a replica serves hot identities
from memory and drops them when another replica changes the character (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio

import grpc
import psycopg
import pytest

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import add_identity, consenting_character, cosine, create_brand, unit_vector


async def _current(client: AsyncAssetsClient, character_id: str) -> pb.IdentityVersion:
    response = await client.api.GetIdentity(pb.GetIdentityRequest(character_id=character_id))
    return response.identity_version


async def _eventually(check, timeout_s: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)  # a poll interval: `check` is what is waited on


@pytest.fixture
def rendered(monkeypatch) -> list[int]:
    """The identity versions the assets servers of this process render into messages (a cached
    identity is served as rendered, so a read that renders nothing was served from the cache)."""
    from likeness.assets import servicer as assets_server_module

    versions: list[int] = []
    original = assets_server_module.identity_message

    def counting(identity, with_embedding: bool = False):
        versions.append(identity.version)
        return original(identity, with_embedding=with_embedding)

    monkeypatch.setattr(assets_server_module, "identity_message", counting)
    return versions


async def _warm(client: AsyncAssetsClient, character_id: str, rendered: list[int]) -> None:
    """Wait until the server serves the character's identity from its cache: a fill that races an
    invalidation still on its way is (rightly) dropped, so read until a read renders nothing."""

    async def served_from_cache() -> None:
        await _current(client, character_id)
        before = len(rendered)
        await _current(client, character_id)
        assert len(rendered) == before

    await _eventually(served_from_cache)


async def test_two_replicas_invalidate_each_other(assets_server, make_token, database_url, rendered) -> None:
    first_face, moved_face, second_face = unit_vector(1), unit_vector(2), unit_vector(3)
    async with assets_server() as writer_server, assets_server() as reader_server:
        token = make_token(roles=[Role.ADMIN])
        async with (
            AsyncAssetsClient(f"127.0.0.1:{writer_server.port}", token=token) as writer,
            AsyncAssetsClient(f"127.0.0.1:{reader_server.port}", token=token) as reader,
        ):
            await create_brand(writer, "acme")
            mia = await consenting_character(writer, "Mia")
            await add_identity(writer, mia.character_id, first_face, [mia.photo_id])
            # The writer's notification for version 1 may still be on its way; a fill that races it
            # is (rightly) not kept, so wait until the reader holds the identity.
            await _warm(reader, mia.character_id, rendered)
            cached = await _current(reader, mia.character_id)
            # Changed behind the service's back (no notification): the reader keeps serving its copy,
            # which shows the copy comes from its cache.
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
                await connection.execute(
                    "UPDATE assets.identity_versions SET z_id = %s::vector WHERE character_id = %s",
                    ("[" + ",".join(map(repr, moved_face)) + "]", mia.character_id),
                )
            still_cached = await _current(reader, mia.character_id)
            # A new version through the other replica reaches the reader through NOTIFY.
            await add_identity(writer, mia.character_id, second_face, [mia.photo_id])

            async def sees_version_two() -> pb.IdentityVersion:
                identity = await _current(reader, mia.character_id)
                assert identity.version == 2
                return identity

            refreshed = await _eventually(sees_version_two)
            await writer.api.EraseCharacter(
                pb.EraseCharacterRequest(character_id=mia.character_id, reason="DSR")
            )

            async def refuses() -> LikenessError:
                with pytest.raises(LikenessError) as caught:
                    await _current(reader, mia.character_id)
                return caught.value

            refused = await _eventually(refuses)
            reads = await writer.api.ListAuditEvents(
                pb.ListAuditEventsRequest(action="identity_version.read")
            )

    assert cached.version == 1 and cosine(cached.z_id, first_face) > 0.99999
    assert cosine(still_cached.z_id, first_face) > 0.99999
    assert cosine(refreshed.z_id, second_face) > 0.99999
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    # Served from cache or not, every read was audited.
    succeeded = [event for event in reads.events if event.outcome == pb.AUDIT_OUTCOME_SUCCEEDED]
    assert len(succeeded) >= 3


async def test_a_hot_identity_is_served_as_rendered_when_cached_and_rendered_again_after_a_change(
    assets_server, make_token, rendered
) -> None:
    """Converting a stored quality report into its message costs hundreds of microseconds: a cached
    version keeps its response, and a new version (which drops the entry) is rendered afresh."""
    async with assets_server() as server:
        token = make_token(roles=[Role.ADMIN])
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=token) as client:
            await create_brand(client, "acme")
            mia = await consenting_character(client, "Mia")
            await add_identity(client, mia.character_id, unit_vector(1), [mia.photo_id])
            await _warm(client, mia.character_id, rendered)  # past the version's own invalidation
            rendered.clear()
            hot = [await _current(client, mia.character_id) for _ in range(3)]
            after_hot = list(rendered)
            await add_identity(client, mia.character_id, unit_vector(2), [mia.photo_id])

            async def sees_version_two() -> pb.IdentityVersion:
                identity = await _current(client, mia.character_id)
                assert identity.version == 2
                return identity

            fresh = await _eventually(sees_version_two)
            await _warm(client, mia.character_id, rendered)  # as above
            again = await _current(client, mia.character_id)
            renderings_of_two = rendered.count(2)
            still = [await _current(client, mia.character_id) for _ in range(2)]
            reads = await client.api.ListAuditEvents(
                pb.ListAuditEventsRequest(action="identity_version.read")
            )

    assert after_hot == [], after_hot  # once cached: three reads, no rendering
    assert hot[0] == hot[1] == hot[2]
    assert len(hot[0].quality.photo_reports) == 1 and len(hot[0].z_id) == 512
    assert cosine(hot[0].z_id, unit_vector(1)) > 0.99999
    # The change dropped version 1's entry: version 2 was rendered, then served as rendered.
    assert renderings_of_two >= 1 and rendered.count(2) == renderings_of_two, rendered
    assert fresh == again == still[0] == still[1] and cosine(fresh.z_id, unit_vector(2)) > 0.99999
    # Every read was audited, hot or not.
    assert len(reads.events) >= 7
