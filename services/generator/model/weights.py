"""Model weights from the object store: one pinned prefix mirrored into a local directory.

On Kubernetes the fetch-weights init container does this with ``mc mirror`` before Ray starts; a replica
started elsewhere can do it itself (``VideoModelArgs.weights_uri``). Only the prefix's objects are read,
nothing from a model hub; ``from_pretrained(..., local_files_only=True)`` then reads the directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Environment of the replica that names the object store (kept out of the Serve config, which is
#: visible to anyone who can read the RayService).
ENDPOINT_VARIABLE = "LIKENESS_MODEL_S3_ENDPOINT"
ACCESS_KEY_VARIABLE = "LIKENESS_MODEL_S3_ACCESS_KEY"
SECRET_KEY_VARIABLE = "LIKENESS_MODEL_S3_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
SECURE_VARIABLE = "LIKENESS_MODEL_S3_SECURE"


@dataclass(frozen=True)
class WeightsLocation:
    """``s3://bucket/prefix``: where one version of the weights lives."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> WeightsLocation:
        scheme, _, rest = uri.partition("://")
        bucket, _, prefix = rest.partition("/")
        if scheme != "s3" or not bucket or not prefix.strip("/"):
            raise ValueError(f"weights must be named s3://bucket/prefix, not {uri!r}")
        return cls(bucket, prefix.strip("/"))


def client_from_environment() -> Any:
    """A minio client for the endpoint and keys in the replica's environment."""
    from minio import Minio

    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    if not endpoint:
        raise ValueError(f"{ENDPOINT_VARIABLE} must name the object store (host:port) to fetch weights")
    return Minio(
        endpoint,
        access_key=os.environ.get(ACCESS_KEY_VARIABLE),
        secret_key=os.environ.get(SECRET_KEY_VARIABLE),
        secure=os.environ.get(SECURE_VARIABLE, "false").lower() in {"1", "true", "yes"},
    )


def fetch_prefix(client: Any, location: WeightsLocation, destination: Path) -> Path:
    """Mirror the prefix's objects into ``destination``; files already there with the same size stay."""
    destination = destination.resolve()
    destination.mkdir(parents=True, exist_ok=True)
    fetched = 0
    for item in client.list_objects(location.bucket, prefix=location.prefix + "/", recursive=True):
        relative = item.object_name[len(location.prefix) + 1 :]
        target = (destination / relative).resolve()
        if not target.is_relative_to(destination) or target == destination:
            raise ValueError(f"object {item.object_name!r} would be written outside {destination}")
        fetched += 1
        if target.is_file() and target.stat().st_size == item.size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(location.bucket, item.object_name, str(target))
    if not fetched:
        raise FileNotFoundError(f"no objects under s3://{location.bucket}/{location.prefix}/")
    return destination


def upload_directory(client: Any, source: Path, location: WeightsLocation) -> int:
    """Upload a weights directory under the prefix (what an operator does once per model version)."""
    count = 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            key = f"{location.prefix}/{path.relative_to(source).as_posix()}"
            client.fput_object(location.bucket, key, str(path))
            count += 1
    return count
