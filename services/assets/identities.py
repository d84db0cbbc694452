"""Identity versions: add (with the consent requirement and the cross-brand collision check), read
with the embedding (always audited, served from the cache when hot), list, and review."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from likeness.assets import vectors
from likeness.assets.cache import IdentityCache, payload
from likeness.assets.characters import ACTIVE as CHARACTER_ACTIVE
from likeness.assets.characters import ERASED as CHARACTER_ERASED
from likeness.assets.characters import Characters, character_unusable
from likeness.assets.consent import Consents
from likeness.assets.objects import Objects
from likeness.assets.registry import Caller, Store
from likeness.db import fetch_one, single_statement_connection
from likeness.errors import DomainError, FailedPrecondition, NotFound, PreconditionViolation
from likeness.pagination import KeyField, Keyset

ACTIVE = "active"
PENDING_REVIEW = "pending_review"
REJECTED = "rejected"
SUPERSEDED = "superseded"
ERASED = "erased"
REFERENCE_PURPOSES = frozenset({"reference_photo", "synthetic_reference"})

Rendered = TypeVar("Rendered")

#: Identity versions page newest first by version number.
BY_VERSION = Keyset(v=KeyField(int, "before_version", 2**31 - 1))


@dataclass(frozen=True)
class IdentityVersion:
    character_id: uuid.UUID
    version: int
    brand_id: str
    status: str
    model_pack_id: str
    quality: dict[str, Any] | None
    reference_photo_object_ids: list[uuid.UUID]
    estimated_attributes: dict[str, Any] | None
    collision_detected: bool
    review_reason: str
    reviewed_by: str
    reviewed_at: datetime | None
    created_by: str
    created_at: datetime
    erased_at: datetime | None
    # The embedding, read only by GetIdentity.
    z_id: list[float] | None = None


@dataclass(frozen=True)
class IdentityDraft:
    character_id: uuid.UUID
    z_id: Sequence[float] | vectors.Embedding
    model_pack_id: str
    quality: dict[str, Any]
    reference_photo_object_ids: list[uuid.UUID]
    estimated_attributes: dict[str, Any] | None


def target(character_id: uuid.UUID, version: int) -> str:
    return f"{character_id}/versions/{version}"


def version_not_found(character_id: uuid.UUID, version: int) -> NotFound:
    return NotFound(
        f"identity version {version} of character {character_id} not found",
        "identity_version",
        target(character_id, version),
    )


def _unusable_version(message: str, subject: str) -> FailedPrecondition:
    return FailedPrecondition(message, [PreconditionViolation("IDENTITY_VERSION", subject, message)])


class Identities(Store):
    def __init__(
        self,
        *args: Any,
        characters: Characters,
        consents: Consents,
        objects: Objects,
        cache: IdentityCache,
        collision_threshold: float,
        read_audit_async_commit: bool = False,
    ) -> None:
        super().__init__(*args)
        self.read_audit_async_commit = read_audit_async_commit
        self.characters = characters
        self.consents = consents
        self.objects = objects
        self.cache = cache
        self.collision_threshold = collision_threshold

    async def fetch_version(
        self, connection: AsyncConnection[Any], character_id: uuid.UUID, version: int, *, lock: bool = False
    ) -> IdentityVersion:
        query = self.queries["get_identity_version"]
        params = {"character_id": character_id, "version": version}
        missing = version_not_found(character_id, version)
        return await fetch_one(connection, IdentityVersion, query, params, missing, lock=lock)

    async def _collides(self, connection: AsyncConnection[Any], brand_id: str, draft: IdentityDraft) -> bool:
        """True when another brand holds a live identity at least as similar as the threshold."""
        cursor = await connection.execute(
            self.queries["nearest_other_brand_identity"],
            {"brand_id": brand_id, "model_pack_id": draft.model_pack_id, "z_id": draft.z_id},
        )
        row = await cursor.fetchone()
        return row is not None and float(row[0]) >= self.collision_threshold

    async def _supersede_for(
        self, connection: AsyncConnection[Any], character_id: uuid.UUID, version: int
    ) -> None:
        """Make room for ``version`` as the current one (before it is written ACTIVE)."""
        await connection.execute(
            self.queries["supersede_versions"], {"character_id": character_id, "version": version}
        )

    async def _set_current(
        self, connection: AsyncConnection[Any], character_id: uuid.UUID, version: int
    ) -> None:
        await connection.execute(
            self.queries["set_current_identity_version"], {"character_id": character_id, "version": version}
        )

    async def add(self, caller: Caller, draft: IdentityDraft) -> IdentityVersion:
        z_id = vectors.normalised(draft.z_id)
        draft = replace(draft, z_id=z_id)
        try:
            async with self.pool.connection() as connection, connection.transaction():
                character = await self.characters.fetch(
                    connection, caller.brand_id, draft.character_id, lock=True
                )
                if character.status != CHARACTER_ACTIVE:
                    raise character_unusable(character, "add identity versions")
                if not await self.consents.has_current(connection, character.character_id):
                    raise FailedPrecondition(
                        f"character {character.character_id} has no current consent record; "
                        "record one with RecordConsent",
                        [
                            PreconditionViolation(
                                "CONSENT",
                                f"character/{character.character_id}",
                                "no consent record that is recorded, not revoked and valid now",
                            )
                        ],
                    )
                for object_id in draft.reference_photo_object_ids:
                    photo = await self.objects.fetch(connection, caller.brand_id, object_id)
                    if photo.purpose not in REFERENCE_PURPOSES:
                        raise FailedPrecondition(
                            f"object {object_id} has purpose {photo.purpose}, "
                            "not REFERENCE_PHOTO or SYNTHETIC_REFERENCE",
                            [
                                PreconditionViolation(
                                    "OBJECT_PURPOSE", f"object/{object_id}", "not a reference photo"
                                )
                            ],
                        )
                collision = await self._collides(connection, caller.brand_id, draft)
                cursor = await connection.execute(
                    self.queries["next_identity_version"], {"character_id": character.character_id}
                )
                next_row = await cursor.fetchone()
                version = int(next_row[0]) if next_row else 1
                status = PENDING_REVIEW if collision else ACTIVE
                if not collision:
                    await self._supersede_for(connection, character.character_id, version)
                reader = connection.cursor(row_factory=class_row(IdentityVersion))
                await reader.execute(
                    self.queries["insert_identity_version"],
                    {
                        "character_id": character.character_id,
                        "version": version,
                        "brand_id": caller.brand_id,
                        "status": status,
                        "z_id": z_id,
                        "model_pack_id": draft.model_pack_id,
                        "quality": Jsonb(draft.quality),
                        "reference_photo_object_ids": draft.reference_photo_object_ids,
                        "estimated_attributes": (
                            Jsonb(draft.estimated_attributes) if draft.estimated_attributes else None
                        ),
                        "collision_detected": collision,
                        "created_by": caller.subject,
                    },
                )
                added = await reader.fetchone()
                assert added is not None
                if not collision:
                    await self._set_current(connection, character.character_id, version)
                version_target = target(character.character_id, version)
                await self.audit.append(
                    connection,
                    caller.brand_id,
                    caller.actor,
                    "identity_version.add",
                    "identity_version",
                    version_target,
                    details={"model_pack_id": draft.model_pack_id, "status": status},
                )
                if collision:
                    # Nothing about the other brand: only that a collision held the version back.
                    await self.audit.append(
                        connection,
                        caller.brand_id,
                        caller.actor,
                        "identity_version.collision",
                        "identity_version",
                        version_target,
                        details={"threshold": self.collision_threshold},
                    )
                await connection.execute(
                    self.queries["notify_identity_change"],
                    {"payload": payload(caller.brand_id, character.character_id)},
                )
        except FailedPrecondition as error:
            await self.record_refusal(
                caller, "identity_version.add", "character", str(draft.character_id), error
            )
            raise
        self.cache.invalidate(caller.brand_id, draft.character_id)
        return added

    async def _load(self, caller: Caller, character_id: uuid.UUID, version: int) -> IdentityVersion:
        async with self.pool.connection() as connection:
            character = await self.characters.fetch(connection, caller.brand_id, character_id)
            if character.status == CHARACTER_ERASED:
                raise character_unusable(character, "read its identity")
            number = version or character.current_identity_version
            if number == 0:
                raise _unusable_version(
                    f"character {character_id} has no ACTIVE identity version", f"character/{character_id}"
                )
            cursor = connection.cursor(row_factory=class_row(IdentityVersion))
            await cursor.execute(
                self.queries["get_identity_version_with_embedding"],
                {"character_id": character_id, "version": number},
            )
            found = await cursor.fetchone()
        if found is None:
            raise version_not_found(character_id, number)
        if found.status == ERASED or found.z_id is None:
            raise _unusable_version(
                f"identity version {number} of character {character_id} is erased",
                target(character_id, number),
            )
        return found

    async def get(
        self,
        caller: Caller,
        character_id: uuid.UUID,
        version: int,
        access_reason: str,
        render: Callable[[IdentityVersion], Rendered],
    ) -> Rendered:
        """The version with its embedding, as ``render`` makes it; every call, refused or not, is
        audited. A cached version is kept rendered: a hot read pays for neither the database read nor
        the rendering (a full quality report costs hundreds of microseconds to convert), only for its
        audit event. What ``render`` returns is shared by every read of the entry: never modify it."""
        key = (caller.brand_id, character_id, version)
        cached: tuple[IdentityVersion, Rendered] | None = self.cache.get(key)
        if cached is None:
            epoch = self.cache.epoch
            try:
                loaded = await self._load(caller, character_id, version)
            except (FailedPrecondition, NotFound) as error:
                await self._audit_read_refusal(caller, character_id, version, access_reason, error)
                raise
            cached = (loaded, render(loaded))
            self.cache.put(key, cached, epoch)
        identity, rendered = cached
        # The read's audit event is the read's whole transaction: one statement, one round trip.
        async with single_statement_connection(self.pool) as connection:
            await self.audit.append(
                connection,
                caller.brand_id,
                caller.actor,
                "identity_version.read",
                "identity_version",
                target(character_id, identity.version),
                details={"access_reason": access_reason},
                flush_commit=not self.read_audit_async_commit,
            )
        return rendered

    async def _audit_read_refusal(
        self, caller: Caller, character_id: uuid.UUID, version: int, access_reason: str, error: DomainError
    ) -> None:
        await self.record_refusal(
            caller,
            "identity_version.read",
            "identity_version",
            target(character_id, version),
            error,
            details={"access_reason": access_reason},
        )

    async def list(
        self, caller: Caller, character_id: uuid.UUID, page_size: int, page_token: str
    ) -> tuple[list[IdentityVersion], str]:
        async with self.pool.connection() as connection:
            await self.characters.fetch(connection, caller.brand_id, character_id)
            return await BY_VERSION.fetch(
                connection,
                IdentityVersion,
                self.queries["list_identity_versions"],
                {"character_id": character_id},
                size=page_size,
                token=page_token,
                filters={"character_id": str(character_id)},
                position=lambda row: {"v": row.version},
            )

    async def review(
        self, caller: Caller, character_id: uuid.UUID, version: int, approve: bool, reason: str
    ) -> IdentityVersion:
        version_target = target(character_id, version)
        try:
            async with self.pool.connection() as connection, connection.transaction():
                character = await self.characters.fetch(connection, caller.brand_id, character_id, lock=True)
                if character.status != CHARACTER_ACTIVE:
                    raise character_unusable(character, "review its identity versions")
                current = await self.fetch_version(connection, character_id, version, lock=True)
                if current.status != PENDING_REVIEW:
                    raise _unusable_version(
                        f"identity version {version} is {current.status}, not PENDING_REVIEW", version_target
                    )
                status = ACTIVE if approve else REJECTED
                if approve:
                    await self._supersede_for(connection, character_id, version)
                await connection.execute(
                    self.queries["review_identity_version"],
                    {
                        "character_id": character_id,
                        "version": version,
                        "status": status,
                        "reason": reason,
                        "reviewed_by": caller.subject,
                    },
                )
                if approve:
                    await self._set_current(connection, character_id, version)
                reviewed = await self.fetch_version(connection, character_id, version)
                await self.audit.append(
                    connection,
                    caller.brand_id,
                    caller.actor,
                    "identity_version.review",
                    "identity_version",
                    version_target,
                    details={"status": status, "reason": reason},
                )
                await connection.execute(
                    self.queries["notify_identity_change"],
                    {"payload": payload(caller.brand_id, character_id)},
                )
        except FailedPrecondition as error:
            await self.record_refusal(
                caller, "identity_version.review", "identity_version", version_target, error
            )
            raise
        self.cache.invalidate(caller.brand_id, character_id)
        return reviewed
