"""Right to erasure: a character's embeddings, reference photos and derived clips go; a tombstone,
its consent records and the audit trail stay."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from likeness.assets.cache import IdentityCache, payload
from likeness.assets.characters import ERASED, Characters
from likeness.assets.objectstore import ObjectStore
from likeness.assets.registry import Caller, Store

logger = logging.getLogger("likeness.assets.erasure")


@dataclass(frozen=True)
class Erasure:
    character_id: uuid.UUID
    erased_at: datetime
    embeddings_deleted: int
    objects_deleted: int
    generated_assets_erased: int
    audit_event_id: str
    already_erased: bool


class Eraser(Store):
    def __init__(self, *args: Any, characters: Characters, store: ObjectStore, cache: IdentityCache) -> None:
        super().__init__(*args)
        self.characters = characters
        self.store = store
        self.cache = cache

    async def erase(self, caller: Caller, character_id: uuid.UUID, reason: str) -> Erasure:
        """Erase in one transaction, then delete the bytes (the orphan sweep retries any that fail)."""
        async with self.pool.connection() as connection, connection.transaction():
            character = await self.characters.fetch(connection, caller.brand_id, character_id, lock=True)
            if character.status == ERASED:
                tombstone = character.erasure or {}
                assert character.erased_at is not None
                return Erasure(
                    character_id=character_id,
                    erased_at=character.erased_at,
                    embeddings_deleted=int(tombstone.get("embeddings_deleted", 0)),
                    objects_deleted=int(tombstone.get("objects_deleted", 0)),
                    generated_assets_erased=int(tombstone.get("generated_assets_erased", 0)),
                    audit_event_id=str(tombstone.get("audit_event_id", "")),
                    already_erased=True,
                )
            parameters = {"character_id": character_id, "brand_id": caller.brand_id}
            cursor = await connection.execute(self.queries["reference_photos_of_character"], parameters)
            object_ids = {row[0] for row in await cursor.fetchall()}
            cursor = await connection.execute(self.queries["erase_generated_assets_of_character"], parameters)
            erased_assets = await cursor.fetchall()
            for _, clip_object_id, manifest_object_id in erased_assets:
                object_ids.update((clip_object_id, manifest_object_id))
            cursor = await connection.execute(self.queries["erase_identity_versions"], parameters)
            embeddings_deleted = len(await cursor.fetchall())
            cursor = await connection.execute(
                self.queries["delete_objects"], {"brand_id": caller.brand_id, "object_ids": list(object_ids)}
            )
            storage_keys = [row[0] for row in await cursor.fetchall()]
            counts = {
                "embeddings_deleted": embeddings_deleted,
                "objects_deleted": len(storage_keys),
                "generated_assets_erased": len(erased_assets),
            }
            event_id = await self.audit.append(
                connection,
                caller.brand_id,
                caller.actor,
                "character.erase",
                "character",
                str(character_id),
                details={"reason": reason, **counts},
            )
            cursor = await connection.execute(
                self.queries["erase_character"],
                {
                    "character_id": character_id,
                    "erasure": Jsonb({**counts, "audit_event_id": str(event_id)}),
                },
            )
            row = await cursor.fetchone()
            assert row is not None
            erased_at: datetime = row[0]
            await connection.execute(
                self.queries["notify_identity_change"], {"payload": payload(caller.brand_id, character_id)}
            )
        self.cache.invalidate(caller.brand_id, character_id)
        for key in storage_keys:
            try:
                await self.store.delete(key)
            except Exception:
                logger.warning("erased object not deleted yet", extra={"key": key}, exc_info=True)
        return Erasure(
            character_id=character_id,
            erased_at=erased_at,
            audit_event_id=str(event_id),
            already_erased=False,
            **counts,
        )
