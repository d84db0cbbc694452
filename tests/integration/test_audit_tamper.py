"""Tamper evidence that does not trust the database: the services' own role cannot touch audit rows or
switch the append-only trigger off, and what the schema's owner can still do (cut the chain short,
rewrite it with recomputed hashes) is found by VerifyAuditChain against signed checkpoints kept in the
object store."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.assets.audit import AuditEvent, AuditLog, chain_hash
from likeness.db import load_queries
from likeness.sdk import AsyncAssetsClient

CHECKPOINT_KEY = "a checkpoint key the database never sees"


@pytest.fixture
def service_url(postgres_server: Any, database_url: str) -> Iterator[str]:
    """A login role of its own for the services, as `likeness up` and the cluster give them."""
    role = f"likeness_app_{uuid.uuid4().hex[:8]}"
    admin = str(postgres_server.get_uri("postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
    try:
        yield psycopg.conninfo.make_conninfo(database_url, user=role)
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP ROLE {role}")


def _owner(database_url: str, *statements: str) -> None:
    """What the schema's owner (here the superuser) can do: switch the guard off and edit rows."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET search_path TO assets, public")
        connection.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        for statement in statements:
            connection.execute(statement)
        connection.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


def _events(database_url: str, brand_id: str) -> list[AuditEvent]:
    with psycopg.connect(database_url) as connection:
        cursor = connection.cursor(row_factory=psycopg.rows.class_row(AuditEvent))
        cursor.execute(
            "SELECT brand_id, sequence, event_id, event_time, actor_subject, actor_roles, action,"
            " target_type, target_id, request_id, outcome, details, prev_hash, hash FROM assets.audit_events"
            " WHERE brand_id = %s ORDER BY sequence",
            (brand_id,),
        )
        return cursor.fetchall()


async def _chain_links_hold(database_url: str, brand_id: str) -> bool:
    """The chain's own check, without checkpoints."""
    async with await psycopg.AsyncConnection.connect(
        database_url, options="-c search_path=assets,public"
    ) as connection:
        return (await AuditLog(load_queries("likeness.assets")).verify(connection, brand_id)).ok


async def _populate(client: AsyncAssetsClient, characters: int) -> None:
    await client.api.CreateBrand(pb.CreateBrandRequest(brand_id="acme", display_name="Acme"))
    for index in range(characters):
        await client.api.CreateCharacter(pb.CreateCharacterRequest(display_name=f"Character {index}"))


async def test_the_services_role_writes_rows_but_cannot_alter_or_remove_audit_events(
    assets_server: Any, make_token: Any, database_url: str, service_url: str
) -> None:
    async with assets_server(database_url=service_url, migration_database_url=database_url) as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            await _populate(client, 2)
            verified = await client.api.VerifyAuditChain(pb.VerifyAuditChainRequest())
    assert verified.ok and verified.events_checked == 3

    with psycopg.connect(service_url, autocommit=True) as connection:
        connection.execute("SET search_path TO assets, public")
        assert connection.execute("SELECT count(*) FROM audit_events").fetchone() == (4,)
        for statement, refusal in [
            ("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only", "must be owner"),
            ("ALTER TABLE audit_events DISABLE TRIGGER ALL", "must be owner"),
            ("DROP TRIGGER audit_events_append_only ON audit_events", "must be owner"),
            ("DELETE FROM audit_events WHERE sequence = 4", "permission denied"),
            ("UPDATE audit_events SET details = '{}' WHERE sequence = 1", "permission denied"),
            ("TRUNCATE audit_events", "permission denied"),
            ("DELETE FROM schema_migrations", "permission denied"),
            ("CREATE TABLE assets.smuggled (id int)", "permission denied"),
        ]:
            with pytest.raises(errors.InsufficientPrivilege) as refused:
                connection.execute(statement)
            assert refusal in str(refused.value), statement
    assert [event.sequence for event in _events(database_url, "acme")] == [1, 2, 3, 4]


@asynccontextmanager
async def _checkpointed(
    assets_server: Any, make_token: Any, *, interval_s: float, **settings: Any
) -> AsyncIterator[AsyncAssetsClient]:
    """An owner's client of an assets service that checkpoints audit chains every ``interval_s``."""
    settings |= {"audit_checkpoint_key": CHECKPOINT_KEY, "audit_checkpoint_interval_s": interval_s}
    async with assets_server(**settings) as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            yield client


async def _verify(client: AsyncAssetsClient) -> pb.VerifyAuditChainResponse:
    response: pb.VerifyAuditChainResponse = await client.api.VerifyAuditChain(pb.VerifyAuditChainRequest())
    return response


async def test_cutting_the_chain_short_as_the_owner_is_reported_as_truncated(
    assets_server: Any, make_token: Any, database_url: str, service_url: str
) -> None:
    settings = {"database_url": service_url, "migration_database_url": database_url}
    async with _checkpointed(assets_server, make_token, interval_s=0, **settings) as client:
        await _populate(client, 3)
        first = await _verify(client)  # checks 4 events, records itself (5), checkpoints at 5
        second = await _verify(client)  # checks 5 against the checkpoint at 5, checkpoints at 6
        sixth = _events(database_url, "acme")[5]
        _owner(database_url, "DELETE FROM audit_events WHERE brand_id = 'acme' AND sequence >= 5")
        assert await _chain_links_hold(database_url, "acme")  # what remains links up
        cut = await _verify(client)
    assert first.ok and first.checkpoint_sequence == 0
    assert second.ok and second.checkpoint_sequence == 5
    assert not cut.ok and cut.checkpoint_sequence == 6
    assert cut.first_broken_link.kind == pb.CHAIN_BREAK_KIND_TRUNCATED
    assert cut.first_broken_link.sequence == 6
    assert cut.first_broken_link.expected_hash == sixth.hash and sixth.sequence == 6


async def test_a_chain_rewritten_with_recomputed_hashes_is_reported_against_its_checkpoint(
    assets_server: Any, make_token: Any, database_url: str, service_url: str
) -> None:
    settings = {"database_url": service_url, "migration_database_url": database_url}
    async with _checkpointed(assets_server, make_token, interval_s=0, **settings) as client:
        await _populate(client, 2)
        before = await _verify(client)
        # The owner rewrites history: who created the brand, and every hash after it, recomputed.
        rewritten, previous = [], "0" * 64
        for event in _events(database_url, "acme"):
            if event.sequence == 1:
                event = dataclasses.replace(event, actor_subject="someone-else")
            event = dataclasses.replace(event, prev_hash=previous)
            event = dataclasses.replace(event, hash=chain_hash(previous, event))
            rewritten.append(event)
            previous = event.hash
        _owner(
            database_url,
            *(
                f"UPDATE audit_events SET actor_subject = '{event.actor_subject}', "
                f"prev_hash = '{event.prev_hash}', hash = '{event.hash}' "
                f"WHERE brand_id = 'acme' AND sequence = {event.sequence}"
                for event in rewritten
            ),
        )
        assert await _chain_links_hold(database_url, "acme")  # the chain alone cannot tell
        after = await _verify(client)
    assert before.ok
    assert not after.ok
    broken = after.first_broken_link
    assert broken.kind == pb.CHAIN_BREAK_KIND_CHECKPOINT_MISMATCH
    assert broken.sequence == after.checkpoint_sequence == before.last_sequence + 1
    assert broken.found_hash == rewritten[broken.sequence - 1].hash != broken.expected_hash


async def test_a_forged_checkpoint_is_reported_and_never_extended(
    assets_server: Any, make_token: Any, database_url: str, tmp_path: Path
) -> None:
    objects = tmp_path / "objects"
    async with _checkpointed(assets_server, make_token, interval_s=0, object_store_dir=objects) as client:
        await _populate(client, 1)
        await _verify(client)
        latest = objects / "audit-checkpoints" / "acme" / "latest.json"
        document = json.loads(latest.read_text())
        document["sequence"] = 1  # moved back, as if the newer events never existed
        latest.write_text(json.dumps(document))
        forged = await _verify(client)
        still = await _verify(client)
    assert not forged.ok and forged.first_broken_link.kind == pb.CHAIN_BREAK_KIND_CHECKPOINT_INVALID
    assert not still.ok and still.first_broken_link.kind == pb.CHAIN_BREAK_KIND_CHECKPOINT_INVALID
    assert json.loads(latest.read_text())["sequence"] == 1  # nothing written over the evidence


async def test_grown_chains_are_checkpointed_in_the_background(
    assets_server: Any, make_token: Any, database_url: str, tmp_path: Path
) -> None:
    objects = tmp_path / "objects"
    latest = objects / "audit-checkpoints" / "acme" / "latest.json"

    def checkpointed() -> int:
        try:
            return int(json.loads(latest.read_text())["sequence"])
        except (FileNotFoundError, json.JSONDecodeError):
            return 0

    async with _checkpointed(assets_server, make_token, interval_s=0.05, object_store_dir=objects) as client:
        await _populate(client, 2)
        head = len(_events(database_url, "acme"))
        deadline = time.monotonic() + 30
        while checkpointed() < head:
            assert time.monotonic() < deadline, "no checkpoint of the grown chain"
            # A poll interval, not a wait: the checkpoint file is what is waited on.
            await asyncio.sleep(0.02)
    history = sorted(path.name for path in latest.parent.glob("0*.json"))
    assert history[-1] == f"{head:020d}.json"
