"""Every item of a paginated List call, page after page, as one iterator (blocking or async).

A List request carries ``page_size`` and ``page_token``; its response carries the page's items under
one repeated field and ``next_page_token``, empty on the last page. The filters of the first request
stay in every later one (the services refuse a token used with other filters)::

    for job in items(generator.api.ListJobs, generator_pb2.ListJobsRequest(state=...), "jobs", limit=50):
        ...
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from google.protobuf.message import Message

#: The services' largest page.
MAX_PAGE_SIZE = 500


def _first(request: Message, limit: int | None) -> Any:
    first: Any = type(request)()
    first.CopyFrom(request)
    if not first.page_size:
        first.page_size = MAX_PAGE_SIZE if limit is None else max(1, min(MAX_PAGE_SIZE, limit))
    return first


def iterate(
    call: Callable[[Any], Any], request: Message, field: str, limit: int | None = None
) -> Iterator[Any]:
    """The items under ``field`` of every page ``call`` returns for ``request``, up to ``limit``."""
    page_request = _first(request, limit)

    def pages() -> Iterator[Any]:
        while True:
            response = call(page_request)
            yield from getattr(response, field)
            if not response.next_page_token:
                return
            page_request.page_token = response.next_page_token

    return pages() if limit is None else itertools.islice(pages(), limit)


def items(call: Callable[[Any], Any], request: Message, field: str, limit: int | None = None) -> list[Any]:
    """:func:`iterate` as a list."""
    return list(iterate(call, request, field, limit))


async def aiterate(
    call: Callable[[Any], Awaitable[Any]], request: Message, field: str, limit: int | None = None
) -> AsyncIterator[Any]:
    """:func:`iterate` for an async client's calls."""
    page_request = _first(request, limit)
    count = 0
    while True:
        response = await call(page_request)
        for item in getattr(response, field):
            if limit is not None and count >= limit:
                return
            count += 1
            yield item
        if not response.next_page_token:
            return
        page_request.page_token = response.next_page_token
