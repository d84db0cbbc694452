"""Signed checkpoints of each brand's audit chain, kept in the object store, outside PostgreSQL.

The chain's hashes show that no event was changed without changing every later one, but whoever can
write the database can still remove the newest events, or rewrite the whole chain and recompute every
hash: the result verifies. A checkpoint is a brand's chain head at one moment (sequence and hash),
signed with HMAC-SHA256 under a key from the service's settings that the database never holds, and
stored as an object. VerifyAuditChain checks the chain against the brand's latest checkpoint: the event
at its sequence must still exist (else TRUNCATED) and carry its hash (else CHECKPOINT_MISMATCH); a
checkpoint whose signature fails is CHECKPOINT_INVALID.

A checkpoint vouches only for a chain that verified: before one is written, the events since the
previous checkpoint are verified, and the event at the previous checkpoint must still carry its hash.
Checkpoints are written every ``audit_checkpoint_interval_s`` for each brand whose chain grew, and after
each VerifyAuditChain that found the chain intact; events newer than the latest checkpoint are covered
by the chain alone, so that interval is the window in which removing the newest events goes unseen.

Objects: ``audit-checkpoints/<brand>/<sequence, 20 digits>.json`` for every checkpoint (the history),
and ``audit-checkpoints/<brand>/latest.json``, the one verification reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from likeness.assets.audit import AuditLog, BreakKind, ChainBreak, Verification
from likeness.assets.objectstore import ObjectStore
from likeness.errors import NotFound

logger = logging.getLogger("likeness.assets.checkpoints")

KEY_PREFIX = "audit-checkpoints/"
_LATEST = "latest.json"


@dataclass(frozen=True)
class Checkpoint:
    brand_id: str
    sequence: int
    hash: str
    recorded_at: str

    def body(self) -> bytes:
        """The signed bytes: canonical JSON of the fields."""
        return json.dumps(self.__dict__, sort_keys=True, separators=(",", ":")).encode()


class InvalidCheckpoint(Exception):
    """A stored checkpoint that is not what this service signed."""

    def __init__(self, key: str, reason: str, sequence: int = 0) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.sequence = sequence


class CheckpointStore:
    """Signing, writing and reading checkpoints; the key never leaves this object."""

    def __init__(self, store: ObjectStore, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the audit checkpoint key must be at least 16 bytes")
        self._store = store
        self._key = key

    def _signature(self, checkpoint: Checkpoint) -> str:
        return hmac.new(self._key, checkpoint.body(), hashlib.sha256).hexdigest()

    @staticmethod
    def _folder(brand_id: str) -> str:
        return f"{KEY_PREFIX}{brand_id}/"

    async def write(self, checkpoint: Checkpoint) -> None:
        document = json.dumps({**checkpoint.__dict__, "signature": self._signature(checkpoint)}).encode()
        folder = self._folder(checkpoint.brand_id)
        await self._store.put(f"{folder}{checkpoint.sequence:020d}.json", document, "application/json")
        await self._store.put(f"{folder}{_LATEST}", document, "application/json")

    async def latest(self, brand_id: str) -> Checkpoint | None:
        """The brand's latest checkpoint, None when it has none; raises InvalidCheckpoint when the stored
        one is not this service's (a bad signature, another brand's, unreadable)."""
        key = f"{self._folder(brand_id)}{_LATEST}"
        try:
            data = await self._store.get(key)
        except NotFound:
            return None
        try:
            document = json.loads(data)
            signature = document.pop("signature")
            checkpoint = Checkpoint(
                brand_id=str(document["brand_id"]),
                sequence=int(document["sequence"]),
                hash=str(document["hash"]),
                recorded_at=str(document["recorded_at"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidCheckpoint(key, f"unreadable ({error})") from error
        if not isinstance(signature, str) or not hmac.compare_digest(signature, self._signature(checkpoint)):
            raise InvalidCheckpoint(key, "the signature does not match", checkpoint.sequence)
        if checkpoint.brand_id != brand_id:
            raise InvalidCheckpoint(key, f"it is brand {checkpoint.brand_id!r}'s", checkpoint.sequence)
        return checkpoint


async def check_against_checkpoint(
    connection: Any, audit: AuditLog, checkpoints: CheckpointStore, brand_id: str
) -> tuple[ChainBreak | None, int]:
    """(the break the brand's latest checkpoint reveals or None, that checkpoint's sequence or 0)."""
    try:
        checkpoint = await checkpoints.latest(brand_id)
    except InvalidCheckpoint as invalid:
        logger.error("audit checkpoint refused", extra={"brand_id": brand_id, "reason": str(invalid)})
        return ChainBreak(invalid.sequence, "", BreakKind.CHECKPOINT_INVALID), invalid.sequence
    if checkpoint is None:
        return None, 0
    stored = await audit.stored_hash(connection, brand_id, checkpoint.sequence)
    if stored is None:
        return ChainBreak(checkpoint.sequence, "", BreakKind.TRUNCATED, checkpoint.hash), checkpoint.sequence
    if stored != checkpoint.hash:
        found = ChainBreak(checkpoint.sequence, "", BreakKind.CHECKPOINT_MISMATCH, checkpoint.hash, stored)
        return found, checkpoint.sequence
    return None, checkpoint.sequence


class Checkpointer:
    """Writes checkpoints of chains that verify: on demand and every ``interval_s`` for grown chains."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        queries: Mapping[str, str],
        audit: AuditLog,
        checkpoints: CheckpointStore,
    ) -> None:
        self.pool = pool
        self.queries = queries
        self.audit = audit
        self.checkpoints = checkpoints
        self._recorded: dict[str, int] = {}  # brand -> sequence of its latest checkpoint, as seen here
        self._locks: dict[str, asyncio.Lock] = {}

    async def record(self, brand_id: str) -> Checkpoint | None:
        """Checkpoint the brand's chain head if the chain since the previous checkpoint verifies; None
        when there is nothing new or the chain does not verify (logged: the checkpoint refuses to vouch)."""
        async with self._locks.setdefault(brand_id, asyncio.Lock()):
            try:
                previous = await self.checkpoints.latest(brand_id)
            except InvalidCheckpoint as invalid:
                logger.error("audit checkpoint refused", extra={"brand_id": brand_id, "reason": str(invalid)})
                return None
            start = previous.sequence + 1 if previous else 1
            async with self.pool.connection() as connection, connection.transaction():
                if previous is not None:
                    stored = await self.audit.stored_hash(connection, brand_id, previous.sequence)
                    if stored != previous.hash:
                        logger.error(
                            "audit chain no longer matches its checkpoint",
                            extra={"brand_id": brand_id, "sequence": previous.sequence},
                        )
                        return None
                verification: Verification = await self.audit.verify(connection, brand_id, start)
            if not verification.ok:
                logger.error(
                    "audit chain broken: not checkpointed",
                    extra={"brand_id": brand_id, "break": str(verification.first_break)},
                )
                return None
            if verification.events_checked == 0:
                if previous is not None:
                    self._recorded[brand_id] = previous.sequence
                return None
            checkpoint = Checkpoint(
                brand_id=brand_id,
                sequence=verification.last_sequence,
                hash=verification.last_hash,
                recorded_at=datetime.now(UTC).isoformat(),
            )
            await self.checkpoints.write(checkpoint)
            self._recorded[brand_id] = checkpoint.sequence
            return checkpoint

    async def record_grown(self) -> int:
        """One round: checkpoint every brand whose chain grew since its checkpoint; how many were written."""
        async with self.pool.connection() as connection:
            cursor = await connection.execute(self.queries["audit_heads"])
            heads = await cursor.fetchall()
        written = 0
        for brand_id, sequence in heads:
            if sequence > self._recorded.get(brand_id, 0) and await self.record(brand_id) is not None:
                written += 1
        return written

    async def run_forever(self, interval_s: float) -> None:
        while True:
            try:
                await self.record_grown()
            except Exception:
                logger.exception("audit checkpoint round failed")
            await asyncio.sleep(interval_s)
