"""The queue's admission rule without a database: the whole queue's bound and each brand's share."""

from __future__ import annotations

import pytest

from likeness.generator.admission import QueueLimits, queue_refusal

pytestmark = pytest.mark.unit

LIMITS = QueueLimits(max_queued=10, max_queued_per_brand=4)


def test_a_brand_under_its_share_in_a_queue_with_room_is_taken() -> None:
    assert queue_refusal(LIMITS, "acme", queued=9, brand_queued=3, brand_limit=None) is None


def test_a_brand_at_its_share_is_refused_while_others_still_get_in() -> None:
    refusal = queue_refusal(LIMITS, "acme", queued=4, brand_queued=4, brand_limit=None)
    assert refusal is not None and "brand 'acme' has 4 queued jobs" in str(refusal)
    (violation,) = refusal.violations
    assert violation.subject == "generator/brands/acme/queued_jobs" and "at most 4" in violation.description
    assert queue_refusal(LIMITS, "globex", queued=4, brand_queued=0, brand_limit=None) is None


def test_a_brands_own_limit_replaces_the_default_share_either_way() -> None:
    assert queue_refusal(LIMITS, "acme", queued=6, brand_queued=6, brand_limit=8) is None
    refusal = queue_refusal(LIMITS, "acme", queued=1, brand_queued=1, brand_limit=1)
    assert refusal is not None and "at most 1 queued jobs" in refusal.violations[0].description


def test_a_full_queue_refuses_everyone_and_says_the_queue_is_full() -> None:
    refusal = queue_refusal(LIMITS, "globex", queued=10, brand_queued=0, brand_limit=None)
    assert refusal is not None and "queue is full" in str(refusal)
    assert refusal.violations[0].subject == "generator/queued_jobs"
