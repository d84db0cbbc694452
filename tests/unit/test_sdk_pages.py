"""The SDK's page iteration: every item of every page, the first request's filters kept on later pages,
and a limit that stops reading."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.sdk.pages import MAX_PAGE_SIZE, aiterate, items

pytestmark = pytest.mark.unit


class Listing:
    """A ListJobs answering pages of 2 over 5 jobs, recording each request it was given."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(type(request).FromString(request.SerializeToString()))
        start = int(request.page_token or 0)
        jobs = [pb.Job(job_id=str(index)) for index in range(start, min(start + 2, 5))]
        token = str(start + 2) if start + 2 < 5 else ""
        return pb.ListJobsResponse(jobs=jobs, next_page_token=token)


def test_every_page_is_read_with_the_first_requests_filters() -> None:
    listing = Listing()
    request = pb.ListJobsRequest(state=pb.JOB_STATE_RUNNING)
    assert [job.job_id for job in items(listing, request, "jobs")] == ["0", "1", "2", "3", "4"]
    assert [r.page_token for r in listing.requests] == ["", "2", "4"]
    assert all(r.state == pb.JOB_STATE_RUNNING and r.page_size == MAX_PAGE_SIZE for r in listing.requests)
    assert request.page_token == ""  # the caller's request is not changed


def test_the_sdk_asks_for_the_services_largest_page() -> None:
    from likeness import pagination

    assert MAX_PAGE_SIZE == pagination.MAX_PAGE_SIZE


def test_a_limit_stops_reading_and_sizes_the_pages() -> None:
    listing = Listing()
    assert [job.job_id for job in items(listing, pb.ListJobsRequest(), "jobs", limit=3)] == ["0", "1", "2"]
    assert len(listing.requests) == 2 and listing.requests[0].page_size == 3


def test_async_iteration_reads_the_same_items() -> None:
    listing = Listing()

    async def call(request: Any) -> Any:
        return listing(request)

    async def collect(limit: int | None) -> list[str]:
        return [job.job_id async for job in aiterate(call, pb.ListJobsRequest(), "jobs", limit)]

    assert asyncio.run(collect(None)) == ["0", "1", "2", "3", "4"]
    assert asyncio.run(collect(1)) == ["0"]
