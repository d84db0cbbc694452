"""Whether the queue takes one more job: the whole queue's bound, and each brand's share of it so that no
brand can fill it for the others (a brand's own limit, where one is set, replaces the default share)."""

from __future__ import annotations

from dataclasses import dataclass

from likeness.errors import QuotaViolation, ResourceExhausted


@dataclass(frozen=True)
class QueueLimits:
    #: Jobs queued at most, all brands together.
    max_queued: int
    #: Jobs one brand may have queued unless it has a limit of its own.
    max_queued_per_brand: int


def queue_refusal(
    limits: QueueLimits, brand_id: str, queued: int, brand_queued: int, brand_limit: int | None
) -> ResourceExhausted | None:
    """Why the queue refuses one more job of ``brand_id``, given the jobs queued before it (all brands,
    and the brand's); None when it takes it. The brand's share is checked first: a brand at its own
    limit is told so even when the queue is full too."""
    share = limits.max_queued_per_brand if brand_limit is None else brand_limit
    if brand_queued >= share:
        return ResourceExhausted(
            f"brand {brand_id!r} has {brand_queued} queued jobs, its limit; retry when some have started",
            [
                QuotaViolation(
                    f"generator/brands/{brand_id}/queued_jobs", f"at most {share} queued jobs for this brand"
                )
            ],
        )
    if queued >= limits.max_queued:
        return ResourceExhausted(
            "the generation queue is full; retry later",
            [QuotaViolation("generator/queued_jobs", f"at most {limits.max_queued} queued jobs")],
        )
    return None
