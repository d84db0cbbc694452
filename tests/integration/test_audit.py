"""The hash-chained audit log: concurrent writers never fork it, and tampering is found."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

import grpc
import psycopg
import pytest

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.assets.audit import Actor, AuditFilter, AuditLog, BreakKind, chain_hash
from likeness.assets.settings import AssetsSettings
from likeness.db import load_queries, open_pool, single_statement_connection
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import tamper_audit

ACTOR = Actor("auditor", ("admin",), "req-1")


@pytest.fixture
async def pool(database_url: str):
    pool = await open_pool(AssetsSettings(database_url=database_url))
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog(load_queries("likeness.assets"))


async def _append(pool, audit: AuditLog, brand: str, index: int) -> None:
    async with pool.connection() as connection, connection.transaction():
        await audit.append(
            connection, brand, ACTOR, "character.update", "character", f"c{index}", details={"i": index}
        )


async def test_concurrent_writers_build_one_unbroken_chain(pool, audit: AuditLog) -> None:
    await asyncio.gather(*(_append(pool, audit, "acme", index) for index in range(24)))
    await asyncio.gather(*(_append(pool, audit, "other", index) for index in range(3)))
    async with pool.connection() as connection:
        events = await audit.list(connection, "acme", AuditFilter(), after_sequence=0, limit=100)
        verification = await audit.verify(connection, "acme")
        other = await audit.verify(connection, "other")
    assert [event.sequence for event in events] == list(range(1, 25))
    assert sorted(event.details["i"] for event in events) == list(range(24))
    assert events[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert verification.ok and verification.events_checked == 24
    assert verification.last_hash == events[-1].hash
    assert other.ok and other.events_checked == 3


async def test_events_written_alone_by_concurrent_readers_build_one_unbroken_chain(
    pool, audit: AuditLog
) -> None:
    # The audit of a read is its own one-statement transaction; the function's lock and its fresh
    # snapshot keep concurrent ones in one chain, interleaved with events of ordinary transactions.
    async def alone(index: int) -> None:
        async with single_statement_connection(pool) as connection:
            await audit.append(
                connection,
                "acme",
                ACTOR,
                "identity_version.read",
                "identity_version",
                f"c{index}:1",
                flush_commit=False,
            )

    await asyncio.gather(
        *(alone(index) for index in range(16)), *(_append(pool, audit, "acme", i) for i in range(8))
    )
    async with pool.connection() as connection:
        events = await audit.list(connection, "acme", AuditFilter(), after_sequence=0, limit=100)
        verification = await audit.verify(connection, "acme")
    assert [event.sequence for event in events] == list(range(1, 25))
    assert sum(event.action == "identity_version.read" for event in events) == 16
    assert verification.ok and verification.events_checked == 24


async def test_an_event_committed_without_the_flush_changes_only_its_own_transaction(
    pool, audit: AuditLog
) -> None:
    async with pool.connection() as connection:
        async with connection.transaction():
            await audit.append(
                connection, "acme", ACTOR, "likeness.search", "brand", "acme", flush_commit=False
            )
            assert await _setting(connection, "synchronous_commit") == "off"
        assert await _setting(connection, "synchronous_commit") == "on"
        async with connection.transaction():
            await audit.append(connection, "acme", ACTOR, "character.update", "character", "c1")
            assert await _setting(connection, "synchronous_commit") == "on"
    async with single_statement_connection(pool) as connection:
        await audit.append(
            connection, "acme", ACTOR, "identity_version.read", "identity_version", "c1:1", flush_commit=False
        )
        assert await _setting(connection, "synchronous_commit") == "on"
    async with pool.connection() as connection:
        assert not connection.autocommit, "the pool must get its connection back as it lent it"
        assert (await audit.verify(connection, "acme")).events_checked == 3


async def _setting(connection, name: str) -> str:
    cursor = await connection.execute("SELECT current_setting(%s)", (name,))
    row = await cursor.fetchone()
    return str(row[0])


async def test_the_database_links_events_exactly_as_verify_recomputes_them(pool, audit: AuditLog) -> None:
    # The database computes each hash; verify recomputes it in Python. Text outside ASCII, a nested
    # "sequence" key, quotes and multi-digit sequences must hash the same both ways.
    awkward = [
        {"reason": 'Zoë — 配音 "quoted" \\ 😀'},
        {"sequence": 7, "nested": {"sequence": "x"}, "list": [1, 2.5, None, True]},
        {},
    ]
    async with pool.connection() as connection, connection.pipeline(), connection.transaction():
        for index in range(12):
            details = awkward[index % 3]
            await audit.append(
                connection, "acme", ACTOR, "character.update", "character", f"ç{index}", details=details
            )
    async with pool.connection() as connection:
        events = await audit.list(connection, "acme", AuditFilter(), after_sequence=0, limit=100)
        verification = await audit.verify(connection, "acme")
    assert [event.sequence for event in events] == list(range(1, 13))
    assert all(event.hash == chain_hash(event.prev_hash, event) for event in events)
    assert verification.ok and verification.events_checked == 12


async def test_events_are_written_only_inside_a_transaction(pool, audit: AuditLog) -> None:
    async with pool.connection() as connection:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await audit.append(connection, "acme", ACTOR, "brand.create", "brand", "acme")


async def test_the_table_refuses_updates_and_deletes(pool, audit: AuditLog) -> None:
    await _append(pool, audit, "acme", 1)
    async with pool.connection() as connection:
        for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                async with connection.transaction():
                    await connection.execute(statement)


@pytest.mark.parametrize(
    ("statement", "kind", "broken_at"),
    [
        (
            "UPDATE audit_events SET details = '{\"i\": 99}' WHERE sequence = 3",
            BreakKind.HASH_MISMATCH,
            3,
        ),
        ("UPDATE audit_events SET hash = repeat('a', 64) WHERE sequence = 3", BreakKind.HASH_MISMATCH, 3),
        ("DELETE FROM audit_events WHERE sequence = 2", BreakKind.SEQUENCE_GAP, 2),
    ],
)
async def test_verify_reports_the_first_broken_link(
    pool, audit: AuditLog, database_url: str, statement: str, kind: BreakKind, broken_at: int
) -> None:
    for index in range(5):
        await _append(pool, audit, "acme", index)
    await tamper_audit(database_url, statement)
    async with pool.connection() as connection:
        verification = await audit.verify(connection, "acme")
        from_four = await audit.verify(connection, "acme", from_sequence=4)
    assert not verification.ok
    assert verification.first_break is not None
    assert verification.first_break.kind == kind
    assert verification.first_break.sequence == broken_at
    assert verification.events_checked == broken_at - 1
    if "SET hash" in statement:
        # Checking from 4 links it to event 3's stored (altered) hash.
        assert not from_four.ok
    else:
        # Event 3's stored hash is intact, so the range 4..5 alone still verifies.
        assert from_four.ok and from_four.events_checked == 2


async def test_a_rewritten_event_with_a_recomputed_hash_breaks_the_next_link(
    pool, audit: AuditLog, database_url: str
) -> None:
    for index in range(5):
        await _append(pool, audit, "acme", index)
    async with pool.connection() as connection:
        (original,) = [
            event
            for event in await audit.list(connection, "acme", AuditFilter(), after_sequence=0, limit=10)
            if event.sequence == 3
        ]
    forged = dataclasses.replace(original, details={"i": 99})
    forged_hash = chain_hash(forged.prev_hash, forged)
    await tamper_audit(
        database_url,
        f"UPDATE audit_events SET details = '{{\"i\": 99}}', hash = '{forged_hash}' WHERE sequence = 3",
    )
    async with pool.connection() as connection:
        verification = await audit.verify(connection, "acme")
    assert verification.first_break is not None
    assert verification.first_break.kind == BreakKind.PREV_HASH_MISMATCH
    assert verification.first_break.sequence == 4
    assert verification.first_break.expected_hash == forged_hash
    assert verification.first_break.found_hash == original.hash


async def test_audit_over_grpc_is_per_brand_paginated_and_verifiable(assets_server, make_token) -> None:
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with AsyncAssetsClient(target, token=make_token(brand="acme", subject="ana")) as acme:
            await acme.api.CreateBrand(
                pb.CreateBrandRequest(brand_id="acme", display_name="Acme"),
                metadata=[("x-request-id", "create-acme-1")],
            )
            first = await acme.api.VerifyAuditChain(pb.VerifyAuditChainRequest())
            second = await acme.api.VerifyAuditChain(pb.VerifyAuditChainRequest())
            listed = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest())
            pages = []
            token = ""
            while True:
                page = await acme.api.ListAuditEvents(
                    pb.ListAuditEventsRequest(page_size=1, page_token=token)
                )
                pages.extend(event.sequence for event in page.events)
                token = page.next_page_token
                if not token:
                    break
            first_page = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(page_size=1))
            with pytest.raises(LikenessError) as mismatched:
                # A token from one listing cannot continue a listing with other filters.
                await acme.api.ListAuditEvents(
                    pb.ListAuditEventsRequest(page_size=1, page_token=first_page.next_page_token, action="x")
                )
            only_verifies = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(action="audit.verify"))
        async with AsyncAssetsClient(target, token=make_token(brand="globex", roles=[Role.VIEWER])) as globex:
            with pytest.raises(LikenessError) as foreign:
                await globex.api.ListAuditEvents(pb.ListAuditEventsRequest())

    created = listed.events[0]
    assert (created.sequence, created.action, created.target_id) == (1, "brand.create", "acme")
    assert created.actor_subject == "ana"
    assert list(created.actor_roles) == ["admin"]
    assert created.request_id == "create-acme-1"
    assert created.outcome == pb.AUDIT_OUTCOME_SUCCEEDED
    assert created.details["display_name"] == "Acme"
    assert first.ok and first.events_checked == 1 and first.last_hash == created.hash
    assert second.ok and second.events_checked == 2
    assert [event.action for event in listed.events] == ["brand.create", "audit.verify", "audit.verify"]
    assert pages == [1, 2, 3]
    assert mismatched.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [event.sequence for event in only_verifies.events] == [2, 3]
    assert foreign.value.code == grpc.StatusCode.NOT_FOUND  # a brand nobody created sees nothing


async def test_a_refused_call_is_audited_whatever_its_unvalidated_target_holds(
    assets_server, make_token
) -> None:
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with AsyncAssetsClient(target, token=make_token(brand="acme", subject="ana")) as admin:
            await admin.api.CreateBrand(pb.CreateBrandRequest(brand_id="acme", display_name="Acme"))
            async with AsyncAssetsClient(
                target, token=make_token(brand="acme", subject="vic", roles=[Role.VIEWER])
            ) as viewer:
                for character_id in ("a\x00b", "z" * 20_000):
                    with pytest.raises(LikenessError) as refused:
                        await viewer.api.ArchiveCharacter(
                            pb.ArchiveCharacterRequest(character_id=character_id)
                        )
                    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
            denied = await admin.api.ListAuditEvents(pb.ListAuditEventsRequest(action="character.archive"))
            verified = await admin.api.VerifyAuditChain(pb.VerifyAuditChainRequest())
    assert [event.outcome for event in denied.events] == [pb.AUDIT_OUTCOME_DENIED] * 2
    assert [event.target_id for event in denied.events] == ["a\\x00b", "z" * 200]
    assert all(event.actor_subject == "vic" for event in denied.events)
    assert verified.ok
