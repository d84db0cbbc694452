"""The S3 test server speaks S3 through the `minio` SDK, and the assets S3 backend works on it."""

from __future__ import annotations

import io
import os
import urllib.request
from datetime import timedelta

import pytest
from minio.error import S3Error

from likeness.assets.objectstore import S3ObjectStore
from likeness.errors import NotFound
from tests.fixtures.radosgw import S3Endpoint

pytestmark = pytest.mark.s3


def test_s3_contract_through_the_minio_sdk(s3_endpoint: S3Endpoint) -> None:
    client = s3_endpoint.client()
    bucket = "contract"
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)

    payload = b"hello, radosgw"
    client.put_object(bucket, "docs/a.txt", io.BytesIO(payload), len(payload), content_type="text/plain")
    response = client.get_object(bucket, "docs/a.txt")
    try:
        assert response.read() == payload
    finally:
        response.close()
        response.release_conn()
    info = client.stat_object(bucket, "docs/a.txt")
    assert info.size == len(payload)
    assert info.content_type == "text/plain"

    client.put_object(bucket, "other/b.txt", io.BytesIO(b"b"), 1)
    listed = [item.object_name for item in client.list_objects(bucket, prefix="docs/", recursive=True)]
    assert listed == ["docs/a.txt"]

    large = os.urandom(12 * 1024 * 1024)
    client.put_object(bucket, "big.bin", io.BytesIO(large), -1, part_size=5 * 1024 * 1024)
    response = client.get_object(bucket, "big.bin")
    try:
        assert response.read() == large
    finally:
        response.close()
        response.release_conn()

    url = client.presigned_get_object(bucket, "docs/a.txt", expires=timedelta(minutes=5))
    with urllib.request.urlopen(url, timeout=10) as fetched:  # noqa: S310 — our own loopback server
        assert fetched.read() == payload

    client.remove_object(bucket, "docs/a.txt")
    with pytest.raises(S3Error) as missing:
        client.stat_object(bucket, "docs/a.txt")
    assert missing.value.code == "NoSuchKey"


async def test_assets_s3_backend_round_trip(s3_endpoint: S3Endpoint) -> None:
    store = S3ObjectStore(s3_endpoint.client(), "assets-backend")
    await store.ensure_ready()
    stored = await store.put("brand/x/object-1", b"\x89PNG fake", "image/png")
    assert stored.size == 9
    assert await store.get("brand/x/object-1") == b"\x89PNG fake"
    assert (await store.stat("brand/x/object-1")).size == 9
    assert await store.presigned_get_url("brand/x/object-1", timedelta(minutes=1))
    await store.delete("brand/x/object-1")
    with pytest.raises(NotFound):
        await store.get("brand/x/object-1")
