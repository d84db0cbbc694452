"""Likeness search: the brand's characters whose current identity looks like a face."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.rows import class_row

from likeness.assets import vectors
from likeness.assets.registry import Caller, Store

DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class LikenessMatch:
    character_id: uuid.UUID
    identity_version: int
    display_name: str
    character_status: str
    similarity: float


class Search(Store):
    def __init__(self, *args: Any, search_ef: int, read_audit_async_commit: bool = False) -> None:
        super().__init__(*args)
        self.search_ef = search_ef
        self.read_audit_async_commit = read_audit_async_commit

    async def search(
        self,
        caller: Caller,
        z_id: Sequence[float],
        model_pack_id: str,
        top_k: int,
        min_similarity: float | None,
    ) -> list[LikenessMatch]:
        """Top-k by cosine similarity among the brand's ACTIVE identities of the same model pack."""
        query = vectors.normalised(z_id)
        limit = top_k or DEFAULT_TOP_K
        # Pipelined: the whole audited transaction takes two round trips to the database.
        async with self.pool.connection() as connection, connection.pipeline(), connection.transaction():
            # The connection's ef_search is the setting's (set when the pool opened it); it must be at
            # least the number of rows wanted, or HNSW returns fewer.
            if limit > self.search_ef:
                await connection.execute(self.queries["set_search_ef"], {"ef": str(limit)})
            cursor = connection.cursor(row_factory=class_row(LikenessMatch))
            await cursor.execute(
                self.queries["search_likeness"],
                {
                    "brand_id": caller.brand_id,
                    "model_pack_id": model_pack_id,
                    "z_id": query,
                    "limit": limit,
                    "min_similarity": min_similarity,
                },
            )
            matches = await cursor.fetchall()
            await self.audit.append(
                connection,
                caller.brand_id,
                caller.actor,
                "likeness.search",
                "brand",
                caller.brand_id,
                details={
                    "model_pack_id": model_pack_id,
                    "top_k": limit,
                    "matches": [str(match.character_id) for match in matches],
                },
                flush_commit=not self.read_audit_async_commit,
            )
        return matches
