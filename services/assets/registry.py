"""What every domain module of the registry shares: the pool, named queries, the audit log, and how a
refused call is recorded."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg_pool import AsyncConnectionPool

from likeness.assets.audit import Actor, AuditLog, Outcome
from likeness.db import single_statement_connection
from likeness.errors import DomainError, FailedPrecondition, NotFound, PermissionDenied

if TYPE_CHECKING:  # the domain modules import this one
    from likeness.assets.brands import Brands
    from likeness.assets.cache import IdentityCache
    from likeness.assets.characters import Characters
    from likeness.assets.checkpoints import Checkpointer
    from likeness.assets.consent import Consents
    from likeness.assets.erasure import Eraser
    from likeness.assets.generated import GeneratedAssets
    from likeness.assets.identities import Identities
    from likeness.assets.objects import Objects
    from likeness.assets.objectstore import ObjectStore
    from likeness.assets.search import Search


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one call, as the domain sees it."""

    brand_id: str
    subject: str
    is_service: bool
    actor: Actor


def parse_uuid(value: str, resource_type: str) -> uuid.UUID:
    """Ids arrive validated as UUIDs; anything else is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{resource_type} {value!r} not found", resource_type, value) from None


def character_not_found(character_id: object) -> NotFound:
    # Identical whether the id is unknown or belongs to another brand.
    return NotFound(f"character {character_id} not found", "character", str(character_id))


class Store:
    """Base of the domain modules: pool, queries, audit log, and refusal recording."""

    def __init__(self, pool: AsyncConnectionPool, queries: Mapping[str, str], audit: AuditLog) -> None:
        self.pool = pool
        self.queries = queries
        self.audit = audit

    async def record_refusal(
        self,
        caller: Caller,
        action: str,
        target_type: str,
        target_id: str,
        error: DomainError,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Audit a refused call in its own transaction (the call's own transaction rolled back)."""
        consent_refusal = isinstance(error, FailedPrecondition) and any(
            violation.type == "CONSENT" for violation in error.violations
        )
        outcome = Outcome.DENIED if consent_refusal or isinstance(error, PermissionDenied) else Outcome.FAILED
        async with single_statement_connection(self.pool) as connection:
            await self.audit.append(
                connection,
                caller.brand_id,
                caller.actor,
                action,
                target_type,
                target_id,
                outcome,
                details={**(details or {}), "error": error.message},
            )


@dataclass
class Registry:
    """The whole registry, as the service wires it at start-up and its handlers use it."""

    pool: AsyncConnectionPool
    objects_store: ObjectStore
    audit: AuditLog
    brands: Brands
    characters: Characters
    objects: Objects
    consents: Consents
    identities: Identities
    search: Search
    generated: GeneratedAssets
    eraser: Eraser
    cache: IdentityCache
    #: None when no checkpoint key is configured (the chain is then its own only evidence).
    checkpointer: Checkpointer | None = None
