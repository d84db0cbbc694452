"""Generated clips with their provenance: recorded by the generator, read by the brand."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from likeness.assets.characters import ERASED, Characters, character_unusable
from likeness.assets.consent import Consents
from likeness.assets.identities import Identities
from likeness.assets.objects import Objects
from likeness.assets.registry import Caller, Store
from likeness.db import fetch_one
from likeness.errors import AlreadyExists, FailedPrecondition, NotFound, PreconditionViolation
from likeness.pagination import BY_TIME_AND_ID, time_and_id


@dataclass(frozen=True)
class CharacterUsage:
    character_id: str
    identity_version: int
    consent_id: str
    identity_score: dict[str, Any]


@dataclass(frozen=True)
class _ClipFacts:
    """What a generated clip is, as the generator records it and as the registry returns it."""

    job_id: uuid.UUID
    clip_object_id: uuid.UUID
    c2pa_manifest_object_id: uuid.UUID
    shots: list[dict[str, Any]]
    purpose: str
    channel: str
    territory: str
    flagged: bool
    flag_reasons: list[str]
    provenance_manifest_sha256: str
    model: dict[str, Any]
    scoring_model_pack_id: str


@dataclass(frozen=True)
class GeneratedAssetDraft(_ClipFacts):
    characters: list[CharacterUsage]

    def fingerprint(self) -> str:
        """Identifies the request, so that recording the same clip twice can be told from a conflict."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class GeneratedAsset(_ClipFacts):
    characters: list[dict[str, Any]]
    generated_asset_id: uuid.UUID
    brand_id: str
    request_sha256: str
    recorded_by: str
    created_at: datetime
    erased_at: datetime | None


def generated_asset_not_found(generated_asset_id: object) -> NotFound:
    return NotFound(
        f"generated asset {generated_asset_id} not found", "generated_asset", str(generated_asset_id)
    )


def _precondition(kind: str, subject: str, message: str) -> FailedPrecondition:
    return FailedPrecondition(message, [PreconditionViolation(kind, subject, message)])


class GeneratedAssets(Store):
    def __init__(
        self,
        *args: Any,
        characters: Characters,
        consents: Consents,
        identities: Identities,
        objects: Objects,
    ) -> None:
        super().__init__(*args)
        self.characters = characters
        self.consents = consents
        self.identities = identities
        self.objects = objects

    async def _existing(
        self, connection: AsyncConnection[Any], brand_id: str, clip_object_id: uuid.UUID
    ) -> GeneratedAsset | None:
        cursor = connection.cursor(row_factory=class_row(GeneratedAsset))
        await cursor.execute(
            self.queries["generated_asset_by_clip"], {"brand_id": brand_id, "clip_object_id": clip_object_id}
        )
        return await cursor.fetchone()

    async def _check_references(
        self, connection: AsyncConnection[Any], brand_id: str, draft: GeneratedAssetDraft
    ) -> None:
        clip = await self.objects.fetch(connection, brand_id, draft.clip_object_id)
        if clip.purpose != "generated_clip":
            raise _precondition(
                "OBJECT_PURPOSE",
                f"object/{clip.object_id}",
                "the clip object must have purpose GENERATED_CLIP",
            )
        manifest = await self.objects.fetch(connection, brand_id, draft.c2pa_manifest_object_id)
        if manifest.purpose != "c2pa_manifest":
            raise _precondition(
                "OBJECT_PURPOSE",
                f"object/{manifest.object_id}",
                "the manifest object must have purpose C2PA_MANIFEST",
            )
        for usage in draft.characters:
            character_id = uuid.UUID(usage.character_id)
            character = await self.characters.fetch(connection, brand_id, character_id)
            if character.status == ERASED:
                raise character_unusable(character, "record clips of it")
            await self.identities.fetch_version(connection, character_id, usage.identity_version)
            consent = await self.consents.fetch(connection, brand_id, uuid.UUID(usage.consent_id))
            if consent.character_id != character_id:
                raise _precondition(
                    "CONSENT",
                    f"consent/{consent.consent_id}",
                    f"consent {consent.consent_id} is not a record of character {character_id}",
                )

    async def record(self, caller: Caller, draft: GeneratedAssetDraft) -> GeneratedAsset:
        fingerprint = draft.fingerprint()
        try:
            async with self.pool.connection() as connection, connection.transaction():
                await connection.execute(
                    self.queries["lock_clip_record"], {"clip_object_id": str(draft.clip_object_id)}
                )
                existing = await self._existing(connection, caller.brand_id, draft.clip_object_id)
                if existing is not None:
                    if existing.request_sha256 != fingerprint:
                        raise AlreadyExists(
                            f"clip {draft.clip_object_id} is already recorded with a different request",
                            "generated_asset",
                            str(existing.generated_asset_id),
                        )
                    return existing
                await self._check_references(connection, caller.brand_id, draft)
                generated_asset_id = uuid.uuid4()
                cursor = connection.cursor(row_factory=class_row(GeneratedAsset))
                await cursor.execute(
                    self.queries["insert_generated_asset"],
                    {
                        "generated_asset_id": generated_asset_id,
                        "brand_id": caller.brand_id,
                        "job_id": draft.job_id,
                        "clip_object_id": draft.clip_object_id,
                        "c2pa_manifest_object_id": draft.c2pa_manifest_object_id,
                        "shots": Jsonb(draft.shots),
                        "characters": Jsonb([asdict(usage) for usage in draft.characters]),
                        "purpose": draft.purpose,
                        "channel": draft.channel,
                        "territory": draft.territory,
                        "flagged": draft.flagged,
                        "flag_reasons": draft.flag_reasons,
                        "provenance_manifest_sha256": draft.provenance_manifest_sha256,
                        "model": Jsonb(draft.model),
                        "scoring_model_pack_id": draft.scoring_model_pack_id,
                        "request_sha256": fingerprint,
                        "recorded_by": caller.subject,
                    },
                )
                recorded = await cursor.fetchone()
                assert recorded is not None
                for usage in draft.characters:
                    await connection.execute(
                        self.queries["insert_generated_asset_character"],
                        {"generated_asset_id": generated_asset_id, "character_id": usage.character_id},
                    )
                await self.audit.append(
                    connection,
                    caller.brand_id,
                    caller.actor,
                    "generated_asset.record",
                    "generated_asset",
                    str(generated_asset_id),
                    details={
                        "job_id": str(draft.job_id),
                        "clip_object_id": str(draft.clip_object_id),
                        "characters": [usage.character_id for usage in draft.characters],
                        "flagged": draft.flagged,
                    },
                )
                return recorded
        except FailedPrecondition as error:
            await self.record_refusal(
                caller, "generated_asset.record", "object", str(draft.clip_object_id), error
            )
            raise

    async def get(self, caller: Caller, generated_asset_id: uuid.UUID) -> GeneratedAsset:
        async with self.pool.connection() as connection:
            return await fetch_one(
                connection, GeneratedAsset, self.queries["get_generated_asset"],
                {"brand_id": caller.brand_id, "generated_asset_id": generated_asset_id},
                generated_asset_not_found(generated_asset_id),
            )  # fmt: skip

    async def list(
        self,
        caller: Caller,
        character_id: uuid.UUID | None,
        job_id: uuid.UUID | None,
        page_size: int,
        page_token: str,
    ) -> tuple[list[GeneratedAsset], str]:
        params = {"brand_id": caller.brand_id, "character_id": character_id, "job_id": job_id}
        async with self.pool.connection() as connection:
            return await BY_TIME_AND_ID.fetch(
                connection,
                GeneratedAsset,
                self.queries["list_generated_assets"],
                params,
                size=page_size,
                token=page_token,
                filters={"character_id": str(character_id or ""), "job_id": str(job_id or "")},
                position=lambda row: time_and_id(row.created_at, row.generated_asset_id),
            )
