"""The brand's hash-chained, append-only audit log.

Each event's ``hash`` is SHA-256 over its predecessor's hash (64 lowercase hex characters, 64 zeros
for the first event) followed by the canonical JSON of the event's other fields: keys sorted, no
insignificant whitespace, UTF-8, times as RFC 3339 UTC with microseconds. Writers of one brand's
chain are serialised by a transaction-scoped advisory lock, and the (brand, sequence) primary key
guarantees the chain can never fork even if that lock were bypassed.

The database links each new event (the ``append_audit_event`` function of migration 0004, one
statement: inside a pipelined transaction it costs no round trip, and on its own, for the audit of a
read, it is one); ``AuditLog.verify`` recomputes every link here, so the two definitions of the hash
check each other.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from likeness.rpc.auth import Principal

GENESIS_HASH = "0" * 64
# Stands for the sequence number in the canonical JSON sent to the database, which fills it in.
_SEQUENCE_PLACEHOLDER = -(2**62)
_SEQUENCE_FIELD = f'"sequence":{_SEQUENCE_PLACEHOLDER}'.encode()


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class Actor:
    """Who acted, and in which call."""

    subject: str
    roles: tuple[str, ...]
    request_id: str

    @classmethod
    def of(cls, principal: Principal, request_id: str) -> Actor:
        return cls(
            principal.subject, tuple(sorted(role.name.lower() for role in principal.roles)), request_id
        )


@dataclass(frozen=True)
class AuditEvent:
    brand_id: str
    sequence: int
    event_id: uuid.UUID
    event_time: datetime
    actor_subject: str
    actor_roles: list[str]
    action: str
    target_type: str
    target_id: str
    request_id: str
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(event: AuditEvent) -> bytes:
    """The bytes the chain hashes: every field but ``prev_hash`` and ``hash``."""
    body = {
        "brand_id": event.brand_id,
        "sequence": event.sequence,
        "event_id": str(event.event_id),
        "event_time": _time(event.event_time),
        "actor_subject": event.actor_subject,
        "actor_roles": list(event.actor_roles),
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "request_id": event.request_id,
        "outcome": event.outcome,
        "details": event.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _split_at_sequence(body: bytes) -> tuple[bytes, bytes]:
    """The canonical JSON before and after the sequence number's digits."""
    # Inside a JSON string a quote is escaped, so the pattern can only be the top-level key (or a
    # nested "sequence" key holding the placeholder itself, which no event has).
    before, found, after = body.partition(_SEQUENCE_FIELD)
    if not found or _SEQUENCE_FIELD in after:
        raise ValueError("the event's canonical JSON must hold exactly one placeholder sequence")
    return before + b'"sequence":', after


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(event)).hexdigest()


@dataclass(frozen=True)
class AuditFilter:
    """Optional filters of a listing; empty strings and None match everything."""

    target_type: str = ""
    target_id: str = ""
    action: str = ""
    actor_subject: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


class AuditLog:
    def __init__(self, queries: Mapping[str, str]) -> None:
        self._queries = queries

    async def append(
        self,
        connection: AsyncConnection[Any],
        brand_id: str,
        actor: Actor,
        action: str,
        target_type: str,
        target_id: str,
        outcome: Outcome = Outcome.SUCCEEDED,
        details: Mapping[str, Any] | None = None,
        *,
        flush_commit: bool = True,
    ) -> uuid.UUID:
        """Append one event inside the caller's transaction (so it commits with the change), or as
        its own transaction on a connection in autocommit mode (an event that is the whole change).

        One statement and no result to wait for: in a pipeline the event costs no round trip of
        its own. Returns the event's id; its sequence and hash are the database's (see
        ``append_audit_event``), and a failure surfaces when the transaction commits. With
        ``flush_commit`` false the transaction commits without waiting for the WAL flush.
        """
        if connection.info.transaction_status.name == "IDLE" and not connection.autocommit:
            raise RuntimeError("audit events must be written inside the transaction they describe")
        # Microsecond precision is what PostgreSQL stores, so the hash survives the round trip.
        event = AuditEvent(
            brand_id=brand_id,
            sequence=_SEQUENCE_PLACEHOLDER,
            event_id=uuid.uuid4(),
            event_time=datetime.now(UTC),
            actor_subject=actor.subject,
            actor_roles=list(actor.roles),
            action=action,
            target_type=target_type,
            target_id=target_id,
            request_id=actor.request_id,
            outcome=str(outcome),
            details=dict(details or {}),
            prev_hash="",
            hash="",
        )
        before, after = _split_at_sequence(canonical_json(event))
        row = {
            **event.__dict__,
            "details": Jsonb(event.details),
            "json_before_sequence": before,
            "json_after_sequence": after,
            "flush_commit": flush_commit,
        }
        await connection.execute(self._queries["append_audit_event"], row)
        return event.event_id

    async def list(
        self,
        connection: AsyncConnection[Any],
        brand_id: str,
        audit_filter: AuditFilter,
        *,
        after_sequence: int,
        limit: int,
    ) -> list[AuditEvent]:
        """Events in chain order after ``after_sequence`` that match every set filter."""
        cursor = connection.cursor(row_factory=class_row(AuditEvent))
        await cursor.execute(
            self._queries["list_audit_events"],
            {
                "brand_id": brand_id,
                "after_sequence": after_sequence,
                "limit": limit,
                **dataclasses.asdict(audit_filter),
            },
        )
        return await cursor.fetchall()

    async def stored_hash(self, connection: AsyncConnection[Any], brand_id: str, sequence: int) -> str | None:
        """The hash stored on the brand's event at ``sequence``; None when there is no such event."""
        cursor = await connection.execute(
            self._queries["audit_event_hash"], {"brand_id": brand_id, "sequence": sequence}
        )
        row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def verify(
        self, connection: AsyncConnection[Any], brand_id: str, from_sequence: int = 1, to_sequence: int = 0
    ) -> Verification:
        """Recompute every hash in the range and check each link and that no sequence is missing."""
        from_sequence = max(from_sequence, 1)
        expected_prev = GENESIS_HASH
        if from_sequence > 1:
            expected_prev = await self.stored_hash(connection, brand_id, from_sequence - 1) or ""
        result = Verification()
        reader = connection.cursor(row_factory=class_row(AuditEvent))
        await reader.execute(
            self._queries["audit_events_from"],
            {
                "brand_id": brand_id,
                "from_sequence": from_sequence,
                "to_sequence": to_sequence if to_sequence > 0 else 2**62,
            },
        )
        expected_sequence = from_sequence
        async for event in reader:
            if event.sequence != expected_sequence:
                result.first_break = ChainBreak(
                    expected_sequence, str(event.event_id), BreakKind.SEQUENCE_GAP
                )
                break
            if expected_prev and event.prev_hash != expected_prev:
                result.first_break = ChainBreak(
                    event.sequence,
                    str(event.event_id),
                    BreakKind.PREV_HASH_MISMATCH,
                    expected_prev,
                    event.prev_hash,
                )
                break
            recomputed = chain_hash(event.prev_hash, event)
            if recomputed != event.hash:
                result.first_break = ChainBreak(
                    event.sequence, str(event.event_id), BreakKind.HASH_MISMATCH, recomputed, event.hash
                )
                break
            result.events_checked += 1
            result.first_sequence = result.first_sequence or event.sequence
            result.last_sequence = event.sequence
            result.last_hash = event.hash
            expected_prev = event.hash
            expected_sequence += 1
        return result


class BreakKind(enum.Enum):
    HASH_MISMATCH = "hash_mismatch"
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    SEQUENCE_GAP = "sequence_gap"
    # Found against a signed checkpoint kept outside the database (checkpoints.py).
    TRUNCATED = "truncated"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    CHECKPOINT_INVALID = "checkpoint_invalid"


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    event_id: str
    kind: BreakKind
    expected_hash: str = ""
    found_hash: str = ""


@dataclass
class Verification:
    events_checked: int = 0
    first_sequence: int = 0
    last_sequence: int = 0
    last_hash: str = ""
    first_break: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None
