"""The identity cache: bounded LRU, TTL, invalidation per character, and fills that raced an
invalidation are dropped."""

from __future__ import annotations

import uuid

from likeness.assets.cache import IdentityCache, apply_notification, payload

MIA = uuid.UUID(int=1)
LEO = uuid.UUID(int=2)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_entry_goes_first() -> None:
    cache = IdentityCache(max_entries=2, ttl_s=60)
    cache.put(("acme", MIA, 1), "mia-1", cache.epoch)
    cache.put(("acme", MIA, 2), "mia-2", cache.epoch)
    assert cache.get(("acme", MIA, 1)) == "mia-1"  # now most recently used
    cache.put(("acme", LEO, 1), "leo-1", cache.epoch)
    assert cache.get(("acme", MIA, 2)) is None
    assert cache.get(("acme", MIA, 1)) == "mia-1"
    assert cache.get(("acme", LEO, 1)) == "leo-1"
    assert len(cache) == 2


def test_entries_expire() -> None:
    clock = Clock()
    cache = IdentityCache(max_entries=10, ttl_s=5, clock=clock)
    cache.put(("acme", MIA, 0), "mia", cache.epoch)
    clock.now = 4.9
    assert cache.get(("acme", MIA, 0)) == "mia"
    clock.now = 5.0
    assert cache.get(("acme", MIA, 0)) is None
    assert len(cache) == 0


def test_invalidation_drops_one_characters_entries_in_one_brand() -> None:
    cache = IdentityCache(max_entries=10, ttl_s=60)
    for key in (("acme", MIA, 0), ("acme", MIA, 1), ("acme", LEO, 0), ("globex", MIA, 0)):
        cache.put(key, key, cache.epoch)
    apply_notification(cache, payload("acme", MIA))
    assert cache.get(("acme", MIA, 0)) is None and cache.get(("acme", MIA, 1)) is None
    assert cache.get(("acme", LEO, 0)) is not None
    assert cache.get(("globex", MIA, 0)) is not None


def test_a_fill_read_before_an_invalidation_is_not_stored() -> None:
    cache = IdentityCache(max_entries=10, ttl_s=60)
    epoch = cache.epoch  # a reader starts loading...
    cache.invalidate("acme", MIA)  # ...a new version lands meanwhile
    assert not cache.put(("acme", MIA, 0), "stale", epoch)
    assert cache.get(("acme", MIA, 0)) is None
    assert cache.put(("acme", MIA, 0), "fresh", cache.epoch)


def test_nothing_is_cached_while_disconnected_or_disabled() -> None:
    cache = IdentityCache(max_entries=10, ttl_s=60)
    cache.connected = False
    assert not cache.put(("acme", MIA, 0), "x", cache.epoch)
    assert not IdentityCache(max_entries=0, ttl_s=60).put(("acme", MIA, 0), "x", 0)
    assert not IdentityCache(max_entries=10, ttl_s=0).put(("acme", MIA, 0), "x", 0)


def test_a_malformed_notification_clears_everything() -> None:
    cache = IdentityCache(max_entries=10, ttl_s=60)
    cache.put(("acme", MIA, 0), "mia", cache.epoch)
    apply_notification(cache, "acme/not-a-uuid")
    assert len(cache) == 0
