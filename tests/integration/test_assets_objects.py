"""Objects over gRPC on both backends (a local directory and S3 on radosgw), one contract: upload
with a cap, SHA-256 and sniffed types; download; presigned URLs where the backend has them; info;
and the sweep of bytes no row points to."""

from __future__ import annotations

import asyncio
import hashlib
import os
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from minio import Minio

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.assets.audit import AuditLog
from likeness.assets.objects import Objects
from likeness.assets.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from likeness.assets.settings import AssetsSettings
from likeness.db import load_queries, open_pool
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, LikenessError
from tests.assets_support import C2PA, JPEG, MP4, PNG, TEXT, WEBP, create_brand, upload, upload_requests

UNKNOWN = "00000000-0000-4000-8000-000000000000"
CAP = 256 * 1024


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path) -> dict[str, Any]:
    """Server settings for one backend, and a store object to look at what it holds."""
    if request.param == "local":
        return {"object_store_dir": tmp_path / "objects"}
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"objects-{os.urandom(4).hex()}"
    return {
        "s3_endpoint": endpoint.endpoint,
        "s3_access_key": endpoint.access_key,
        "s3_secret_key": endpoint.secret_key,
        "s3_region": endpoint.region,
        "s3_secure": False,
        "s3_bucket": bucket,
    }


def store_for(settings: dict[str, Any]) -> ObjectStore:
    if "object_store_dir" in settings:
        return LocalObjectStore(settings["object_store_dir"])
    client = Minio(
        settings["s3_endpoint"],
        access_key=settings["s3_access_key"],
        secret_key=settings["s3_secret_key"],
        region=settings["s3_region"],
        secure=False,
    )
    return S3ObjectStore(client, settings["s3_bucket"])


async def stored_keys(store: ObjectStore) -> list[str]:
    return [stored.key async for stored in store.list("")]


async def download(client: AsyncAssetsClient, object_id: str) -> tuple[pb.ObjectInfo, bytes]:
    info = None
    data = b""
    async for message in client.api.DownloadObject(pb.DownloadObjectRequest(object_id=object_id)):
        if message.HasField("info"):
            assert info is None
            info = message.info
        else:
            assert len(message.chunk) <= 1024 * 1024
            data += message.chunk
    assert info is not None
    return info, data


async def test_object_contract(assets_server, make_token, backend) -> None:
    video = MP4 + os.urandom(2 * 1024 * 1024 + 17)
    async with assets_server(max_upload_bytes=4 * 1024 * 1024, **backend) as server:
        target = f"127.0.0.1:{server.port}"
        async with (
            AsyncAssetsClient(target, token=make_token(brand="acme", subject="ana")) as acme,
            AsyncAssetsClient(target, token=make_token(brand="globex")) as globex,
            AsyncAssetsClient(target, token=make_token(brand="acme", roles=[Role.SERVICE])) as service,
        ):
            await create_brand(acme, "acme")
            photo = await upload(
                acme,
                JPEG,
                pb.OBJECT_PURPOSE_REFERENCE_PHOTO,
                filename_hint="../../etc/passwd",
                declared_content_type="image/jpeg",
                declared_size_bytes=len(JPEG),
            )
            kinds = {
                "png": await upload(acme, PNG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO),
                "webp": await upload(acme, WEBP, pb.OBJECT_PURPOSE_CONSENT_EVIDENCE),
                "mp4": await upload(acme, video, pb.OBJECT_PURPOSE_VIDEO),
                "c2pa": await upload(service, C2PA, pb.OBJECT_PURPOSE_C2PA_MANIFEST),
                "clip": await upload(service, MP4, pb.OBJECT_PURPOSE_GENERATED_CLIP),
            }
            info, data = await download(acme, kinds["mp4"].object_id)
            fetched = await acme.api.GetObjectInfo(pb.GetObjectInfoRequest(object_id=photo.object_id))
            url_result: Any
            try:
                url_result = await acme.api.GetObjectUrl(
                    pb.GetObjectUrlRequest(
                        object_id=photo.object_id, expires_in=duration_pb2.Duration(seconds=120)
                    )
                )
            except LikenessError as error:
                url_result = error
            with pytest.raises(LikenessError) as foreign:
                await globex.api.GetObjectInfo(pb.GetObjectInfoRequest(object_id=photo.object_id))
            with pytest.raises(LikenessError) as foreign_download:
                await download(globex, photo.object_id)
            with pytest.raises(LikenessError) as unknown_url:
                await acme.api.GetObjectUrl(pb.GetObjectUrlRequest(object_id=UNKNOWN))
            with pytest.raises(LikenessError) as unknown:
                await acme.api.GetObjectInfo(pb.GetObjectInfoRequest(object_id=UNKNOWN))
            events = await acme.api.ListAuditEvents(
                pb.ListAuditEventsRequest(target_type="object", page_size=100)
            )
        keys = await stored_keys(store_for(backend))

    assert photo.content_type == "image/jpeg" and photo.size_bytes == len(JPEG)
    assert photo.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert photo.purpose == pb.OBJECT_PURPOSE_REFERENCE_PHOTO and photo.created_by == "ana"
    assert photo.filename_hint == "../../etc/passwd"
    assert {name: info.content_type for name, info in kinds.items()} == {
        "png": "image/png",
        "webp": "image/webp",
        "mp4": "video/mp4",
        "c2pa": "application/c2pa",
        "clip": "video/mp4",
    }
    assert data == video and info.sha256 == hashlib.sha256(video).hexdigest() == kinds["mp4"].sha256
    assert fetched.info == photo
    if "s3_endpoint" in backend:
        assert await asyncio.to_thread(_fetch, url_result.url) == JPEG
        assert url_result.info == photo
        assert url_result.expire_time.seconds - url_result.info.create_time.seconds in range(100, 200)
    else:
        assert url_result.code == grpc.StatusCode.FAILED_PRECONDITION
    assert (
        foreign.value.code == unknown.value.code == foreign_download.value.code == grpc.StatusCode.NOT_FOUND
    )
    assert unknown_url.value.code == grpc.StatusCode.NOT_FOUND
    # Keys are generated: the filename hint never reaches the store.
    assert len(keys) == 6 and all(key.startswith("objects/acme/") for key in keys)
    assert all("passwd" not in key for key in keys)
    actions = [event.action for event in events.events]
    assert actions.count("object.upload") == 6 and actions.count("object.download") == 1
    (url_event,) = [event for event in events.events if event.action == "object.url"]
    expected_outcome = pb.AUDIT_OUTCOME_SUCCEEDED if "s3_endpoint" in backend else pb.AUDIT_OUTCOME_FAILED
    assert url_event.outcome == expected_outcome


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 — our loopback test server
        return bytes(response.read())


async def _slow_stream(
    data: bytes, purpose: int, sent: list[int], **header: object
) -> AsyncIterator[pb.UploadObjectRequest]:
    async for message in upload_requests(data, purpose, chunk=32 * 1024, **header):
        if message.HasField("chunk"):
            sent.append(len(message.chunk))
        yield message


async def test_upload_errors_store_nothing(assets_server, make_token, backend) -> None:
    async with assets_server(max_upload_bytes=CAP, **backend) as server:
        target = f"127.0.0.1:{server.port}"
        async with (
            AsyncAssetsClient(target, token=make_token()) as acme,
            AsyncAssetsClient(target, token=make_token(roles=[Role.VIEWER])) as viewer,
        ):
            await create_brand(acme, "acme")
            too_big = JPEG + bytes(CAP * 16)
            sent: list[int] = []
            cases = {
                "over_cap": (acme, _slow_stream(too_big, pb.OBJECT_PURPOSE_REFERENCE_PHOTO, sent)),
                "declared_over_cap": (
                    acme,
                    upload_requests(JPEG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO, declared_size_bytes=CAP + 1),
                ),
                "text": (acme, upload_requests(TEXT, pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)),
                "empty": (acme, upload_requests(b"", pb.OBJECT_PURPOSE_REFERENCE_PHOTO)),
                "video_as_photo": (acme, upload_requests(MP4, pb.OBJECT_PURPOSE_REFERENCE_PHOTO)),
                "c2pa_as_evidence": (acme, upload_requests(C2PA, pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)),
                "declared_type_differs": (
                    acme,
                    upload_requests(
                        PNG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO, declared_content_type="image/jpeg"
                    ),
                ),
                "declared_size_differs": (
                    acme,
                    upload_requests(PNG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO, declared_size_bytes=len(PNG) + 1),
                ),
                "no_purpose": (acme, upload_requests(PNG, pb.OBJECT_PURPOSE_UNSPECIFIED)),
                "editor_uploads_clip": (acme, upload_requests(MP4, pb.OBJECT_PURPOSE_GENERATED_CLIP)),
                "viewer": (viewer, upload_requests(PNG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO)),
            }
            codes = {}
            for name, (client, stream) in cases.items():
                with pytest.raises(LikenessError) as caught:
                    await client.api.UploadObject(stream)
                codes[name] = caught.value.code

            async def chunk_first() -> AsyncIterator[pb.UploadObjectRequest]:
                yield pb.UploadObjectRequest(chunk=PNG)

            async def two_headers() -> AsyncIterator[pb.UploadObjectRequest]:
                header = pb.UploadObjectHeader(purpose=pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
                yield pb.UploadObjectRequest(header=header)
                yield pb.UploadObjectRequest(chunk=PNG)
                yield pb.UploadObjectRequest(header=header)

            for name, stream in {"chunk_first": chunk_first(), "two_headers": two_headers()}.items():
                with pytest.raises(LikenessError) as caught:
                    await acme.api.UploadObject(stream)
                codes[name] = caught.value.code
            denied = await acme.api.ListAuditEvents(pb.ListAuditEventsRequest(action="object.upload"))
        keys = await stored_keys(store_for(backend))

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert codes == {
        "over_cap": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "declared_over_cap": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "text": invalid,
        "empty": invalid,
        "video_as_photo": invalid,
        "c2pa_as_evidence": invalid,
        "declared_type_differs": invalid,
        "declared_size_differs": invalid,
        "no_purpose": invalid,
        "editor_uploads_clip": grpc.StatusCode.PERMISSION_DENIED,
        "viewer": grpc.StatusCode.PERMISSION_DENIED,
        "chunk_first": invalid,
        "two_headers": invalid,
    }
    # The cap stopped the stream before all of it was read.
    assert sum(sent) < len(too_big)
    assert keys == []
    # Both refusals are audited: the service-only purpose, and the viewer.
    assert [(event.outcome, list(event.actor_roles)) for event in denied.events] == [
        (pb.AUDIT_OUTCOME_DENIED, ["admin"]),
        (pb.AUDIT_OUTCOME_DENIED, ["viewer"]),
    ]
    assert denied.events[0].details["purpose"] == "generated_clip"


async def test_sweep_removes_only_old_bytes_no_row_points_to(
    assets_server, make_token, backend, database_url
) -> None:
    stray = "objects/acme/00000000-0000-4000-8000-00000000dead"
    store = store_for(backend)
    async with assets_server(orphan_sweep_interval_s=0, **backend) as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as acme:
            await create_brand(acme, "acme")
            kept = await upload(acme, PNG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
            # Bytes written by an upload whose row never committed.
            await store.put(stray, JPEG, "image/jpeg")
            pool = await open_pool(AssetsSettings(database_url=database_url))
            try:
                objects = Objects(
                    pool, load_queries("likeness.assets"), AuditLog({}), store=store, max_upload_bytes=CAP
                )
                young = await objects.sweep_orphans(timedelta(hours=1))
                swept = await objects.sweep_orphans(timedelta(0))
            finally:
                await pool.close()
            _, data = await download(acme, kept.object_id)
    assert young == []
    assert swept == [stray]
    assert data == PNG
    assert await stored_keys(store) == [f"objects/acme/{kept.object_id}"]


async def test_the_server_sweeps_in_the_background(assets_server, make_token, backend) -> None:
    stray = "objects/acme/00000000-0000-4000-8000-00000000beef"
    store = store_for(backend)
    # The grace period covers the moment between an upload's bytes and its row.
    async with assets_server(orphan_sweep_interval_s=0.2, orphan_grace_s=1.5, **backend) as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as acme:
            await create_brand(acme, "acme")
            kept = await upload(acme, PNG, pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
            await store.put(stray, JPEG, "image/jpeg")
            for _ in range(100):
                if stray not in await stored_keys(store):
                    break
                await asyncio.sleep(0.1)  # a poll interval: the stray object's removal is waited on
    assert await stored_keys(store) == [f"objects/acme/{kept.object_id}"]
