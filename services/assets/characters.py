"""Characters: create, read, list, update (field mask + etag), archive."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from likeness.assets.registry import Caller, Store, character_not_found
from likeness.db import fetch_one
from likeness.errors import Aborted, FailedPrecondition, PreconditionViolation
from likeness.pagination import BY_TIME_AND_ID, time_and_id

ACTIVE = "active"
ARCHIVED = "archived"
ERASED = "erased"

# Paths UpdateCharacter accepts; sub-paths of declared_attributes change one attribute only.
DECLARED_SUBFIELDS = ("age_range", "gender", "tags")


@dataclass(frozen=True)
class Character:
    character_id: uuid.UUID
    brand_id: str
    display_name: str
    description: str
    declared_attributes: dict[str, Any] | None
    status: str
    current_identity_version: int
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    erased_at: datetime | None
    erasure: dict[str, Any] | None

    @property
    def etag(self) -> str:
        return hashlib.sha256(f"{self.character_id}:{self.revision}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CharacterPage:
    characters: list[Character]
    next_page_token: str


def character_unusable(character: Character, doing: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"character {character.character_id} is {character.status}; cannot {doing}",
        [
            PreconditionViolation(
                "CHARACTER_STATUS", f"character/{character.character_id}", f"character is {character.status}"
            )
        ],
    )


class Characters(Store):
    async def fetch(
        self, connection: AsyncConnection[Any], brand_id: str, character_id: uuid.UUID, *, lock: bool = False
    ) -> Character:
        """The brand's character, locked for the transaction when ``lock``; NOT_FOUND otherwise."""
        query = self.queries["get_character"]
        params = {"brand_id": brand_id, "character_id": character_id}
        return await fetch_one(
            connection, Character, query, params, character_not_found(character_id), lock=lock
        )

    async def create(
        self,
        caller: Caller,
        display_name: str,
        description: str,
        declared_attributes: dict[str, Any] | None,
    ) -> Character:
        character_id = uuid.uuid4()
        async with self.pool.connection() as connection, connection.transaction():
            brand = await connection.execute(self.queries["get_brand"], {"brand_id": caller.brand_id})
            if await brand.fetchone() is None:
                raise FailedPrecondition(
                    f"brand {caller.brand_id!r} has not been created; call CreateBrand first",
                    [PreconditionViolation("BRAND", f"brand/{caller.brand_id}", "brand not created")],
                )
            cursor = connection.cursor(row_factory=class_row(Character))
            await cursor.execute(
                self.queries["insert_character"],
                {
                    "character_id": character_id,
                    "brand_id": caller.brand_id,
                    "display_name": display_name,
                    "description": description,
                    "declared_attributes": Jsonb(declared_attributes) if declared_attributes else None,
                    "created_by": caller.subject,
                },
            )
            character = await cursor.fetchone()
            assert character is not None
            await self.audit.append(
                connection, caller.brand_id, caller.actor, "character.create", "character", str(character_id)
            )
        return character

    async def get(self, caller: Caller, character_id: uuid.UUID) -> Character:
        async with self.pool.connection() as connection:
            return await self.fetch(connection, caller.brand_id, character_id)

    async def list(self, caller: Caller, status: str, page_size: int, page_token: str) -> CharacterPage:
        async with self.pool.connection() as connection:
            characters, token = await BY_TIME_AND_ID.fetch(
                connection,
                Character,
                self.queries["list_characters"],
                {"brand_id": caller.brand_id, "status": status},
                size=page_size,
                token=page_token,
                filters={"status": status},
                position=lambda row: time_and_id(row.created_at, row.character_id),
            )
        return CharacterPage(characters, token)

    async def update(
        self, caller: Caller, character_id: uuid.UUID, changes: dict[str, Any], etag: str
    ) -> Character:
        """Apply ``changes`` (update-mask path → new value) if the character is active and ``etag``
        (when given) is current."""
        try:
            async with self.pool.connection() as connection, connection.transaction():
                current = await self.fetch(connection, caller.brand_id, character_id, lock=True)
                if current.status != ACTIVE:
                    raise character_unusable(current, "update it")
                if etag and etag != current.etag:
                    raise Aborted(
                        f"character {character_id} changed since etag {etag!r} was read; read it again"
                    )
                values: dict[str, Any] = {
                    "display_name": current.display_name,
                    "description": current.description,
                    "declared_attributes": current.declared_attributes,
                }
                for path, value in changes.items():
                    if path in ("display_name", "description", "declared_attributes"):
                        values[path] = value
                for path, value in changes.items():
                    if path.startswith("declared_attributes."):
                        attributes = dict(values["declared_attributes"] or {})
                        key = path.split(".", 1)[1]
                        if value in (None, [], ""):
                            attributes.pop(key, None)
                        else:
                            attributes[key] = value
                        values["declared_attributes"] = attributes
                cursor = connection.cursor(row_factory=class_row(Character))
                attributes_value = values["declared_attributes"]
                await cursor.execute(
                    self.queries["update_character"],
                    {
                        "character_id": character_id,
                        "display_name": values["display_name"],
                        "description": values["description"],
                        "declared_attributes": Jsonb(attributes_value)
                        if attributes_value is not None
                        else None,
                    },
                )
                updated = await cursor.fetchone()
                assert updated is not None
                await self.audit.append(
                    connection,
                    caller.brand_id,
                    caller.actor,
                    "character.update",
                    "character",
                    str(character_id),
                    details={"update_mask": sorted(changes)},
                )
                return updated
        except FailedPrecondition as error:
            await self.record_refusal(caller, "character.update", "character", str(character_id), error)
            raise

    async def archive(self, caller: Caller, character_id: uuid.UUID) -> tuple[Character, bool]:
        """Archive; returns the character and whether this call changed it."""
        try:
            async with self.pool.connection() as connection, connection.transaction():
                current = await self.fetch(connection, caller.brand_id, character_id, lock=True)
                if current.status == ARCHIVED:
                    return current, False
                if current.status == ERASED:
                    raise character_unusable(current, "archive it")
                cursor = connection.cursor(row_factory=class_row(Character))
                await cursor.execute(self.queries["archive_character"], {"character_id": character_id})
                archived = await cursor.fetchone()
                assert archived is not None
                await self.audit.append(
                    connection,
                    caller.brand_id,
                    caller.actor,
                    "character.archive",
                    "character",
                    str(character_id),
                )
                await connection.execute(
                    self.queries["notify_identity_change"], {"payload": f"{caller.brand_id}/{character_id}"}
                )
                return archived, True
        except FailedPrecondition as error:
            await self.record_refusal(caller, "character.archive", "character", str(character_id), error)
            raise
