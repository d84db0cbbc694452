"""Consent records: record, revoke, read, list, and the check of one intended use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from likeness.assets.characters import ARCHIVED, ERASED, Characters, character_unusable
from likeness.assets.objects import Objects
from likeness.assets.registry import Caller, Store
from likeness.db import fetch_one
from likeness.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from likeness.pagination import BY_TIME_AND_ID, time_and_id

WORLD = "WORLD"
# ISO 3166-1 alpha-2 codes officially assigned.
ISO_3166_ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
    BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES
    ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE
    IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU
    NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM
    SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE
    VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)

# Consent states at a moment.
ACTIVE = "active"
NOT_YET_VALID = "not_yet_valid"
EXPIRED = "expired"
REVOKED = "revoked"

# Denial reasons, in the order the checks run (the proto's ConsentDenialReason).
CHARACTER_ERASED = "character_erased"
CHARACTER_ARCHIVED = "character_archived"
NO_CONSENT = "no_consent"
RECORD_CHECKS = (
    REVOKED,
    NOT_YET_VALID,
    EXPIRED,
    "purpose_not_covered",
    "channel_not_covered",
    "territory_not_covered",
)


@dataclass(frozen=True)
class ConsentDraft:
    character_id: uuid.UUID
    subject_name: str
    purposes: list[str]
    channels: list[str]
    territories: list[str]
    valid_from: datetime
    valid_until: datetime | None
    evidence_object_id: uuid.UUID
    evidence_sha256: str
    notes: str


@dataclass(frozen=True)
class ConsentRecord(ConsentDraft):
    """A stored consent: the draft as recorded, and what the registry adds to it."""

    consent_id: uuid.UUID
    brand_id: str
    recorded_by: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str
    revoke_reason: str

    def state(self, at: datetime) -> str:
        if self.revoked_at is not None and self.revoked_at <= at:
            return REVOKED
        if self.valid_from > at:
            return NOT_YET_VALID
        if self.valid_until is not None and self.valid_until <= at:
            return EXPIRED
        return ACTIVE

    def covers_territory(self, territory: str) -> bool:
        return territory in self.territories or (territory != WORLD and WORLD in self.territories)

    def first_failing_check(self, purpose: str, channel: str, territory: str, at: datetime) -> str | None:
        """The first check (in RECORD_CHECKS order) this record fails for the use, or None."""
        state = self.state(at)
        if state != ACTIVE:
            return state
        if purpose not in self.purposes:
            return "purpose_not_covered"
        if channel not in self.channels:
            return "channel_not_covered"
        if not self.covers_territory(territory):
            return "territory_not_covered"
        return None


@dataclass(frozen=True)
class ConsentCheck:
    allowed: bool
    consent_id: uuid.UUID | None
    denial_reason: str | None
    message: str
    checked_time: datetime


def consent_not_found(consent_id: object) -> NotFound:
    return NotFound(f"consent {consent_id} not found", "consent", str(consent_id))


def _denial_message(record: ConsentRecord, reason: str, purpose: str, channel: str, territory: str) -> str:
    messages = {
        REVOKED: "was revoked",
        NOT_YET_VALID: f"is not valid before {record.valid_from.isoformat()}",
        EXPIRED: f"expired at {record.valid_until.isoformat() if record.valid_until else ''}",
        "purpose_not_covered": f"does not cover purpose {purpose.upper()}"
        f" (it covers {_listed(record.purposes, upper=True)})",
        "channel_not_covered": f"does not cover channel {channel.upper()}"
        f" (it covers {_listed(record.channels, upper=True)})",
        "territory_not_covered": f"does not cover territory {territory}"
        f" (it covers {_listed(record.territories)})",
    }
    return f"consent {record.consent_id} {messages[reason]}"


def _listed(values: list[str], upper: bool = False) -> str:
    return ", ".join(value.upper() if upper else value for value in values) or "nothing"


def evaluate(
    status: str, records: list[ConsentRecord], purpose: str, channel: str, territory: str, at: datetime
) -> ConsentCheck:
    """The answer to one consent check, following the contract's order of checks."""
    if status == ERASED:
        return ConsentCheck(False, None, CHARACTER_ERASED, "the character is erased", at)
    if status == ARCHIVED:
        return ConsentCheck(False, None, CHARACTER_ARCHIVED, "the character is archived", at)
    if not records:
        return ConsentCheck(False, None, NO_CONSENT, "the character has no consent record", at)
    covering = [
        record for record in records if record.first_failing_check(purpose, channel, territory, at) is None
    ]
    if covering:
        best = max(
            covering,
            key=lambda record: (
                record.valid_until is None,
                record.valid_until or at,
                record.created_at,
            ),
        )
        return ConsentCheck(True, best.consent_id, None, f"covered by consent {best.consent_id}", at)

    def closeness(record: ConsentRecord) -> tuple[int, datetime]:
        failing = record.first_failing_check(purpose, channel, territory, at)
        assert failing is not None
        return RECORD_CHECKS.index(failing), record.created_at

    closest = max(records, key=closeness)
    reason = RECORD_CHECKS[closeness(closest)[0]]
    return ConsentCheck(
        False, closest.consent_id, reason, _denial_message(closest, reason, purpose, channel, territory), at
    )


class Consents(Store):
    def __init__(self, *args: Any, characters: Characters, objects: Objects) -> None:
        super().__init__(*args)
        self.characters = characters
        self.objects = objects

    async def fetch(
        self, connection: AsyncConnection[Any], brand_id: str, consent_id: uuid.UUID, *, lock: bool = False
    ) -> ConsentRecord:
        query = self.queries["get_consent"]
        params = {"brand_id": brand_id, "consent_id": consent_id}
        return await fetch_one(
            connection, ConsentRecord, query, params, consent_not_found(consent_id), lock=lock
        )

    async def for_character(
        self, connection: AsyncConnection[Any], character_id: uuid.UUID
    ) -> list[ConsentRecord]:
        cursor = connection.cursor(row_factory=class_row(ConsentRecord))
        await cursor.execute(self.queries["consents_of_character"], {"character_id": character_id})
        return await cursor.fetchall()

    async def record(self, caller: Caller, draft: ConsentDraft) -> ConsentRecord:
        unknown = [code for code in draft.territories if code != WORLD and code not in ISO_3166_ALPHA2]
        if unknown:
            raise InvalidArgument(
                f"territories not assigned in ISO 3166-1: {', '.join(unknown)}",
                [
                    FieldViolation(f"territories[{draft.territories.index(code)}]", "not an ISO 3166-1 code")
                    for code in unknown
                ],
            )
        if draft.valid_until is not None and draft.valid_until <= draft.valid_from:
            # The contract compares to the nanosecond; consent times are kept to the microsecond.
            raise InvalidArgument(
                "valid_until must be after valid_from by at least a microsecond (the precision consent "
                "times are stored at)",
                [FieldViolation("valid_until", "not after valid_from to the microsecond")],
            )
        target = str(draft.character_id)
        try:
            async with self.pool.connection() as connection, connection.transaction():
                character = await self.characters.fetch(
                    connection, caller.brand_id, draft.character_id, lock=True
                )
                if character.status == ERASED:
                    raise character_unusable(character, "record consent for it")
                evidence = await self.objects.fetch(connection, caller.brand_id, draft.evidence_object_id)
                if evidence.purpose != "consent_evidence":
                    raise FailedPrecondition(
                        f"object {evidence.object_id} has purpose {evidence.purpose}, not CONSENT_EVIDENCE",
                        [
                            PreconditionViolation(
                                "OBJECT_PURPOSE",
                                f"object/{evidence.object_id}",
                                "purpose must be CONSENT_EVIDENCE",
                            )
                        ],
                    )
                if evidence.sha256 != draft.evidence_sha256:
                    raise FailedPrecondition(
                        f"evidence_sha256 is not the SHA-256 of object {evidence.object_id}",
                        [
                            PreconditionViolation(
                                "EVIDENCE_SHA256", f"object/{evidence.object_id}", "SHA-256 differs"
                            )
                        ],
                    )
                consent_id = uuid.uuid4()
                cursor = connection.cursor(row_factory=class_row(ConsentRecord))
                await cursor.execute(
                    self.queries["insert_consent"],
                    {
                        **draft.__dict__,
                        "consent_id": consent_id,
                        "brand_id": caller.brand_id,
                        "recorded_by": caller.subject,
                    },
                )
                stored = await cursor.fetchone()
                assert stored is not None
                await self.audit.append(
                    connection,
                    caller.brand_id,
                    caller.actor,
                    "consent.record",
                    "consent",
                    str(consent_id),
                    details={
                        "character_id": target,
                        "purposes": draft.purposes,
                        "channels": draft.channels,
                        "territories": draft.territories,
                    },
                )
                return stored
        except FailedPrecondition as error:
            await self.record_refusal(caller, "consent.record", "character", target, error)
            raise

    async def revoke(self, caller: Caller, consent_id: uuid.UUID, reason: str) -> ConsentRecord:
        async with self.pool.connection() as connection, connection.transaction():
            record = await self.fetch(connection, caller.brand_id, consent_id, lock=True)
            if record.revoked_at is not None:
                return record
            cursor = connection.cursor(row_factory=class_row(ConsentRecord))
            await cursor.execute(
                self.queries["revoke_consent"],
                {"consent_id": consent_id, "revoked_by": caller.subject, "reason": reason},
            )
            revoked = await cursor.fetchone()
            assert revoked is not None
            await self.audit.append(
                connection,
                caller.brand_id,
                caller.actor,
                "consent.revoke",
                "consent",
                str(consent_id),
                details={"character_id": str(record.character_id), "reason": reason},
            )
            return revoked

    async def get(self, caller: Caller, consent_id: uuid.UUID) -> ConsentRecord:
        async with self.pool.connection() as connection:
            return await self.fetch(connection, caller.brand_id, consent_id)

    async def list(
        self, caller: Caller, character_id: uuid.UUID, page_size: int, page_token: str
    ) -> tuple[list[ConsentRecord], str]:
        async with self.pool.connection() as connection:
            await self.characters.fetch(connection, caller.brand_id, character_id)
            return await BY_TIME_AND_ID.fetch(
                connection,
                ConsentRecord,
                self.queries["list_consents"],
                {"character_id": character_id},
                size=page_size,
                token=page_token,
                filters={"character_id": str(character_id)},
                position=lambda row: time_and_id(row.created_at, row.consent_id),
            )

    async def check(
        self,
        caller: Caller,
        character_id: uuid.UUID,
        purpose: str,
        channel: str,
        territory: str,
        at: datetime | None,
    ) -> ConsentCheck:
        async with self.pool.connection() as connection, connection.transaction():
            character = await self.characters.fetch(connection, caller.brand_id, character_id)
            records = await self.for_character(connection, character_id)
            answer = evaluate(character.status, records, purpose, channel, territory, at or datetime.now(UTC))
            await self.audit.append(
                connection,
                caller.brand_id,
                caller.actor,
                "consent.check",
                "character",
                str(character_id),
                details={
                    "purpose": purpose,
                    "channel": channel,
                    "territory": territory,
                    "checked_time": answer.checked_time.isoformat(),
                    "allowed": answer.allowed,
                    "consent_id": str(answer.consent_id or ""),
                    "denial_reason": answer.denial_reason or "",
                },
            )
        return answer

    async def has_current(self, connection: AsyncConnection[Any], character_id: uuid.UUID) -> bool:
        now = datetime.now(UTC)
        return any(
            record.state(now) == ACTIVE for record in await self.for_character(connection, character_id)
        )
