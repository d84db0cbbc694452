"""Stored objects: upload with a size cap, server-side SHA-256 and content sniffing; download; URLs;
and the sweep that removes bytes no row points to.

The bytes are written first and the row second, so a crash in between leaves an orphan in the store
(swept later) and never a row without bytes.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from likeness.assets.objectstore import ObjectStore
from likeness.assets.registry import Caller, Store
from likeness.db import fetch_one
from likeness.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    QuotaViolation,
    ResourceExhausted,
)

logger = logging.getLogger("likeness.assets.objects")

KEY_PREFIX = "objects/"
DOWNLOAD_CHUNK_BYTES = 1024 * 1024

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
MP4 = "video/mp4"
C2PA = "application/c2pa"
IMAGES = frozenset({JPEG, PNG, WEBP})

# Which sniffed types each purpose accepts, and which purposes only internal services may upload.
ACCEPTED_TYPES: dict[str, frozenset[str]] = {
    "reference_photo": IMAGES,
    "synthetic_reference": IMAGES,
    "consent_evidence": IMAGES | {MP4},
    "video": frozenset({MP4}),
    "generated_clip": frozenset({MP4}),
    "c2pa_manifest": frozenset({C2PA}),
}
SERVICE_ONLY_PURPOSES = frozenset({"synthetic_reference", "generated_clip", "c2pa_manifest"})


def sniff_content_type(head: bytes) -> str | None:
    """The content type the leading bytes show, or None when they are none of the accepted kinds."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return MP4
    # A C2PA manifest store is a JUMBF superbox ("jumb") whose description box is labelled "c2pa".
    if len(head) >= 16 and head[4:8] == b"jumb" and b"c2pa" in head[8:64]:
        return C2PA
    return None


@dataclass(frozen=True)
class ObjectInfo:
    object_id: uuid.UUID
    brand_id: str
    storage_key: str
    purpose: str
    content_type: str
    size_bytes: int
    sha256: str
    filename_hint: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class UploadHeader:
    purpose: str
    filename_hint: str
    declared_content_type: str
    declared_size_bytes: int | None


def object_not_found(object_id: object) -> NotFound:
    return NotFound(f"object {object_id} not found", "object", str(object_id))


def storage_key(brand_id: str, object_id: uuid.UUID) -> str:
    return f"{KEY_PREFIX}{brand_id}/{object_id}"


class Objects(Store):
    def __init__(self, *args: Any, store: ObjectStore, max_upload_bytes: int) -> None:
        super().__init__(*args)
        self.store = store
        self.max_upload_bytes = max_upload_bytes

    def _too_large(self, size: int | None = None) -> ResourceExhausted:
        described = f"{size} bytes" if size is not None else "the object"
        return ResourceExhausted(
            f"{described} exceeds the upload limit of {self.max_upload_bytes} bytes",
            [QuotaViolation("upload size", f"at most {self.max_upload_bytes} bytes per object")],
        )

    async def fetch(
        self, connection: AsyncConnection[Any], brand_id: str, object_id: uuid.UUID
    ) -> ObjectInfo:
        params = {"brand_id": brand_id, "object_id": object_id}
        return await fetch_one(
            connection, ObjectInfo, self.queries["get_object"], params, object_not_found(object_id)
        )

    async def upload(self, caller: Caller, header: UploadHeader, chunks: AsyncIterator[bytes]) -> ObjectInfo:
        """Read the whole stream within the cap, check it, store the bytes, then the row."""
        if header.purpose in SERVICE_ONLY_PURPOSES and not caller.is_service:
            refused = PermissionDenied(
                f"only internal services may upload objects with purpose {header.purpose.upper()}"
            )
            await self.record_refusal(
                caller, "object.upload", "object", "", refused, {"purpose": header.purpose}
            )
            raise refused
        if header.declared_size_bytes is not None and header.declared_size_bytes > self.max_upload_bytes:
            raise self._too_large(header.declared_size_bytes)
        data = bytearray()
        digest = hashlib.sha256()
        async for chunk in chunks:
            if len(data) + len(chunk) > self.max_upload_bytes:
                raise self._too_large()
            data += chunk
            digest.update(chunk)
        if not data:
            raise InvalidArgument("the object is empty", [FieldViolation("chunk", "send at least one byte")])
        content_type = sniff_content_type(bytes(data[:64]))
        if content_type is None:
            raise InvalidArgument(
                "the bytes are not a JPEG, PNG, WebP or MP4 file",
                [FieldViolation("chunk", "upload a JPEG, PNG, WebP or MP4 file")],
            )
        accepted = ACCEPTED_TYPES[header.purpose]
        if content_type not in accepted:
            raise InvalidArgument(
                f"purpose {header.purpose} does not accept {content_type}",
                [FieldViolation("header.purpose", f"accepts {', '.join(sorted(accepted))}")],
            )
        if header.declared_content_type and header.declared_content_type != content_type:
            raise InvalidArgument(
                f"declared type {header.declared_content_type} but the bytes are {content_type}",
                [FieldViolation("header.declared_content_type", f"the bytes are {content_type}")],
            )
        if header.declared_size_bytes is not None and header.declared_size_bytes != len(data):
            raise InvalidArgument(
                f"declared {header.declared_size_bytes} bytes but {len(data)} arrived",
                [FieldViolation("header.declared_size_bytes", f"the object has {len(data)} bytes")],
            )
        object_id = uuid.uuid4()
        key = storage_key(caller.brand_id, object_id)
        await self.store.put(key, bytes(data), content_type)
        async with self.pool.connection() as connection, connection.transaction():
            cursor = connection.cursor(row_factory=class_row(ObjectInfo))
            await cursor.execute(
                self.queries["insert_object"],
                {
                    "object_id": object_id,
                    "brand_id": caller.brand_id,
                    "storage_key": key,
                    "purpose": header.purpose,
                    "content_type": content_type,
                    "size_bytes": len(data),
                    "sha256": digest.hexdigest(),
                    "filename_hint": header.filename_hint,
                    "created_by": caller.subject,
                },
            )
            info = await cursor.fetchone()
            assert info is not None
            await self.audit.append(
                connection,
                caller.brand_id,
                caller.actor,
                "object.upload",
                "object",
                str(object_id),
                details={"purpose": header.purpose, "content_type": content_type, "size_bytes": len(data)},
            )
        return info

    async def info(self, caller: Caller, object_id: uuid.UUID) -> ObjectInfo:
        async with self.pool.connection() as connection:
            return await self.fetch(connection, caller.brand_id, object_id)

    async def download(self, caller: Caller, object_id: uuid.UUID) -> tuple[ObjectInfo, bytes]:
        async with self.pool.connection() as connection, connection.transaction():
            info = await self.fetch(connection, caller.brand_id, object_id)
            try:
                data = await self.store.get(info.storage_key)
            except NotFound:
                raise object_not_found(object_id) from None
            await self.audit.append(
                connection, caller.brand_id, caller.actor, "object.download", "object", str(object_id)
            )
        return info, data

    async def url(
        self, caller: Caller, object_id: uuid.UUID, expires_in: timedelta
    ) -> tuple[ObjectInfo, str]:
        try:
            async with self.pool.connection() as connection, connection.transaction():
                info = await self.fetch(connection, caller.brand_id, object_id)
                url = await self.store.presigned_get_url(info.storage_key, expires_in)
                if url is None:
                    raise FailedPrecondition(
                        "this object store cannot presign URLs; use DownloadObject",
                        [PreconditionViolation("OBJECT_STORE", "object_store", "no presigned URLs")],
                    )
                await self.audit.append(
                    connection,
                    caller.brand_id,
                    caller.actor,
                    "object.url",
                    "object",
                    str(object_id),
                    details={"expires_in_s": int(expires_in.total_seconds())},
                )
        except FailedPrecondition as error:
            await self.record_refusal(caller, "object.url", "object", str(object_id), error)
            raise
        return info, url

    async def sweep_orphans(self, grace: timedelta, now: datetime | None = None) -> list[str]:
        """Delete stored objects older than ``grace`` that no row points to; returns their keys."""
        cutoff = (now or datetime.now(UTC)) - grace
        candidates = [
            stored.key
            async for stored in self.store.list(KEY_PREFIX)
            if stored.modified_at is not None and stored.modified_at <= cutoff
        ]
        if not candidates:
            return []
        async with self.pool.connection() as connection:
            cursor = await connection.execute(self.queries["known_storage_keys"], {"keys": candidates})
            known = {row[0] for row in await cursor.fetchall()}
        removed = []
        for key in candidates:
            if key not in known:
                await self.store.delete(key)
                removed.append(key)
        if removed:
            logger.info("orphaned objects removed", extra={"count": len(removed)})
        return removed
