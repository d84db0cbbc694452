"""Brands: creating one, and reading the caller's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from likeness.assets.audit import Actor, AuditLog
from likeness.errors import AlreadyExists, NotFound, PermissionDenied
from likeness.rpc.auth import Principal, Role


@dataclass(frozen=True)
class Brand:
    brand_id: str
    display_name: str
    created_by: str
    created_at: datetime


def brand_not_found(brand_id: str) -> NotFound:
    # The same error whether the brand does not exist or belongs to someone else.
    return NotFound(f"brand {brand_id!r} not found", "brand", brand_id)


class Brands:
    def __init__(self, pool: AsyncConnectionPool, queries: dict[str, str], audit: AuditLog) -> None:
        self._pool = pool
        self._queries = queries
        self._audit = audit

    async def create(self, principal: Principal, actor: Actor, brand_id: str, display_name: str) -> Brand:
        if brand_id != principal.brand_id and Role.SERVICE not in principal.roles:
            raise PermissionDenied("a token may only create the brand it names")
        async with self._pool.connection() as connection, connection.transaction():
            cursor = connection.cursor(row_factory=class_row(Brand))
            await cursor.execute(
                self._queries["insert_brand"],
                {"brand_id": brand_id, "display_name": display_name, "created_by": principal.subject},
            )
            brand = await cursor.fetchone()
            if brand is None:
                raise AlreadyExists(f"brand {brand_id!r} already exists", "brand", brand_id)
            await self._audit.append(
                connection,
                brand_id,
                actor,
                "brand.create",
                "brand",
                brand_id,
                details={"display_name": display_name},
            )
        return brand

    async def exists(self, brand_id: str) -> bool:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(self._queries["get_brand"], {"brand_id": brand_id})
            return await cursor.fetchone() is not None

    async def get(self, principal: Principal, brand_id: str) -> Brand:
        if brand_id != principal.brand_id and Role.SERVICE not in principal.roles:
            raise brand_not_found(brand_id)
        async with self._pool.connection() as connection:
            cursor = connection.cursor(row_factory=class_row(Brand))
            await cursor.execute(self._queries["get_brand"], {"brand_id": brand_id})
            brand = await cursor.fetchone()
        if brand is None:
            raise brand_not_found(brand_id)
        return brand
