"""A bounded in-process cache of hot identity versions (LRU + TTL), and the listener that keeps the
caches of every replica honest through PostgreSQL LISTEN/NOTIFY.

Every change that affects a character's identities (a new version, a review, archive, erasure) sends
``NOTIFY likeness_assets_identity, '<brand>/<character_id>'`` in its own transaction; each replica
drops that character's entries when the notification arrives (after commit). A fill that raced an
invalidation is discarded: ``put`` only stores values read under the current epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import psycopg

logger = logging.getLogger("likeness.assets.cache")

CHANNEL = "likeness_assets_identity"
# (brand, character_id, version); version 0 is "the current one".
CacheKey = tuple[str, uuid.UUID, int]


class IdentityCache:
    def __init__(self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, Any]] = OrderedDict()
        self.epoch = 0
        # False while a replica's listener is disconnected: nothing is cached that could go stale.
        self.connected = True
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.ttl_s > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: CacheKey, value: Any, epoch: int) -> bool:
        """Store ``value`` read while ``epoch`` was current; refused if anything was invalidated since."""
        if not self.enabled or not self.connected or epoch != self.epoch:
            return False
        self._entries[key] = (self._clock() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def invalidate(self, brand_id: str, character_id: uuid.UUID) -> None:
        self.epoch += 1
        for key in [key for key in self._entries if key[0] == brand_id and key[1] == character_id]:
            del self._entries[key]

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()


def payload(brand_id: str, character_id: uuid.UUID) -> str:
    return f"{brand_id}/{character_id}"


def apply_notification(cache: IdentityCache, text: str) -> None:
    brand_id, _, character = text.partition("/")
    try:
        cache.invalidate(brand_id, uuid.UUID(character))
    except ValueError:
        # Unknown shape: drop everything rather than keep something stale.
        cache.clear()


class InvalidationListener:
    """Holds one dedicated connection LISTENing for invalidations; reconnects if it drops."""

    def __init__(self, database_url: str, cache: IdentityCache, retry_s: float = 1.0) -> None:
        self.database_url = database_url
        self.cache = cache
        self.cache.connected = False
        self.retry_s = retry_s
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 10.0) -> None:
        self._task = asyncio.create_task(self._run(), name="identity-cache-listener")
        await asyncio.wait_for(self.listening.wait(), timeout_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    # Whatever changed while we were not listening is unknown: start empty.
                    self.cache.clear()
                    self.cache.connected = True
                    self.listening.set()
                    async for notification in connection.notifies():
                        apply_notification(self.cache, notification.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("identity cache listener lost its connection; retrying", exc_info=True)
                self.listening.clear()
                self.cache.connected = False
                self.cache.clear()
                await asyncio.sleep(self.retry_s)
