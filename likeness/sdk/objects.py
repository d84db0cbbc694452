"""Moving objects through the assets service's streaming calls, the one way every caller does it.

``UploadObject`` takes a header and then the bytes in chunks; ``DownloadObject`` answers with the
object's metadata and then its bytes in chunks. Async and blocking stubs both take the request
iterator ``upload_requests`` makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb

#: The size of an upload's chunks (well under any gRPC message limit).
CHUNK_BYTES = 1024 * 1024


class ObjectTooLarge(Exception):
    """The object is larger than the caller accepts; nothing more of it is read."""

    def __init__(self, object_id: str, max_bytes: int) -> None:
        super().__init__(f"object {object_id} is larger than {max_bytes} bytes")
        self.object_id = object_id
        self.max_bytes = max_bytes


def chunks_of(data: bytes, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def file_chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def upload_requests(
    header: assets_pb.UploadObjectHeader, chunks: Iterable[bytes]
) -> Iterator[assets_pb.UploadObjectRequest]:
    """UploadObject's request stream: the header, then every chunk."""
    yield assets_pb.UploadObjectRequest(header=header)
    for chunk in chunks:
        yield assets_pb.UploadObjectRequest(chunk=chunk)


async def download_bytes(
    api: Any, object_id: str, *, max_bytes: int | None = None, deadline_s: float | None = None
) -> tuple[assets_pb.ObjectInfo | None, bytes]:
    """An object's metadata and bytes through an async assets stub (``client.api``), within the call
    deadline ``deadline_s`` (None: the client's). With ``max_bytes`` the download stops with
    ObjectTooLarge as soon as the object is known to be larger."""
    info: assets_pb.ObjectInfo | None = None
    chunks: list[bytes] = []
    received = 0
    request = assets_pb.DownloadObjectRequest(object_id=object_id)
    async for message in api.DownloadObject(request, **({"timeout": deadline_s} if deadline_s else {})):
        if message.HasField("info"):
            info = message.info
            if max_bytes is not None and info.size_bytes > max_bytes:
                raise ObjectTooLarge(object_id, max_bytes)
            continue
        received += len(message.chunk)
        if max_bytes is not None and received > max_bytes:
            raise ObjectTooLarge(object_id, max_bytes)
        chunks.append(message.chunk)
    return info, b"".join(chunks)
