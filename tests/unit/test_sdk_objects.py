"""The SDK's object streaming on a stand-in stub: the request stream's shape, and a download that stops
as soon as the object is known to be too large."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.sdk.objects import ObjectTooLarge, chunks_of, download_bytes, upload_requests

pytestmark = pytest.mark.unit


def test_an_upload_is_its_header_then_its_chunks() -> None:
    header = assets_pb.UploadObjectHeader(filename_hint="a.bin", declared_size_bytes=5)
    requests = list(upload_requests(header, chunks_of(b"abcde", size=2)))
    assert requests[0].header == header
    assert [request.chunk for request in requests[1:]] == [b"ab", b"cd", b"e"]


class Stub:
    def __init__(self, size: int, chunks: list[bytes]) -> None:
        self.size, self.chunks, self.sent = size, chunks, 0

    async def DownloadObject(self, request: Any, **options: Any) -> AsyncIterator[Any]:
        yield assets_pb.DownloadObjectResponse(info=assets_pb.ObjectInfo(object_id="o", size_bytes=self.size))
        for chunk in self.chunks:
            self.sent += 1
            yield assets_pb.DownloadObjectResponse(chunk=chunk)


async def test_a_download_joins_its_chunks_and_stops_early_when_too_large() -> None:
    info, data = await download_bytes(Stub(5, [b"ab", b"cde"]), "o")
    assert info is not None and info.size_bytes == 5 and data == b"abcde"
    declared_large = Stub(10, [b"x" * 10])
    with pytest.raises(ObjectTooLarge):
        await download_bytes(declared_large, "o", max_bytes=8)
    assert declared_large.sent == 0  # refused on its metadata, before any bytes
    lying = Stub(4, [b"xxxx", b"xxxx", b"xxxx"])  # says 4 bytes, sends more
    with pytest.raises(ObjectTooLarge):
        await download_bytes(lying, "o", max_bytes=8)
    assert lying.sent == 3  # stopped at the chunk that went past the limit
