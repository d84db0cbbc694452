"""Helpers for the assets service tests: sample files, embeddings, and a brand with a consenting
character, all through the public gRPC API."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from google.protobuf import timestamp_pb2

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.common.v1 import usage_pb2
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient

# The leading bytes are what the service sniffs; the rest is filler.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(100)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(300)
C2PA = (
    b"\x00\x00\x01\x00jumb\x00\x00\x00\x2ajumdc2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x008\x9bqc2pa\x00"
    + bytes(64)
)
TEXT = b"%PDF-1.7 this is not an image"


def unit_vector(seed: int, dimensions: int = 512) -> list[float]:
    rng = random.Random(seed)
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def near(base: Sequence[float], seed: int, noise: float) -> list[float]:
    """A face-like variant of ``base``: the same identity seen in another photo."""
    rng = random.Random(seed)
    values = [v + rng.gauss(0.0, noise / math.sqrt(len(base))) for v in base]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def stamp(value: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(value)
    return result


async def upload_requests(
    data: bytes, purpose: int, chunk: int = 64 * 1024, **header: object
) -> AsyncIterator[pb.UploadObjectRequest]:
    yield pb.UploadObjectRequest(header=pb.UploadObjectHeader(purpose=purpose, **header))  # type: ignore[arg-type]
    for offset in range(0, len(data), chunk):
        yield pb.UploadObjectRequest(chunk=data[offset : offset + chunk])


async def upload(client: AsyncAssetsClient, data: bytes, purpose: int, **header: object) -> pb.ObjectInfo:
    response = await client.api.UploadObject(upload_requests(data, purpose, **header))
    return response.info


def quality(count: int = 1) -> pb.IdentityQualityReport:
    return pb.IdentityQualityReport(
        photo_reports=[
            pb.PhotoQualityReport(index=index, accepted=True, face_count=1, detector_score=0.9)
            for index in range(count)
        ],
        consistency_score=0.8,
        accepted_count=count,
    )


@dataclass
class Actor:
    """A brand with one character that has a current consent and a reference photo."""

    character_id: str
    consent_id: str
    photo_id: str
    evidence: pb.ObjectInfo


async def create_brand(client: AsyncAssetsClient, brand: str) -> None:
    await client.api.CreateBrand(pb.CreateBrandRequest(brand_id=brand, display_name=brand.title()))


@asynccontextmanager
async def acme_and_globex(
    server: Any, make_token: Any, role: Role | None = None
) -> AsyncIterator[tuple[AsyncAssetsClient, ...]]:
    """Admin clients of two brands that exist, acme and globex; with ``role``, also a client of acme
    that holds that role only."""
    target = f"127.0.0.1:{server.port}"
    async with AsyncExitStack() as stack:
        tokens = [make_token(brand="acme"), make_token(brand="globex")]
        if role is not None:
            tokens.append(make_token(brand="acme", roles=[role]))
        clients = [
            await stack.enter_async_context(AsyncAssetsClient(target, token=token)) for token in tokens
        ]
        await create_brand(clients[0], "acme")
        await create_brand(clients[1], "globex")
        yield tuple(clients)


async def create_character(client: AsyncAssetsClient, name: str = "Mia", **fields: object) -> pb.Character:
    response = await client.api.CreateCharacter(pb.CreateCharacterRequest(display_name=name, **fields))  # type: ignore[arg-type]
    return response.character


async def record_consent(
    client: AsyncAssetsClient,
    character_id: str,
    evidence: pb.ObjectInfo,
    *,
    purposes: Sequence[int] = (usage_pb2.USAGE_PURPOSE_ADVERTISING,),
    channels: Sequence[int] = (usage_pb2.USAGE_CHANNEL_TV, usage_pb2.USAGE_CHANNEL_ONLINE_VIDEO),
    territories: Sequence[str] = ("DE", "FR"),
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> pb.ConsentRecord:
    request = pb.RecordConsentRequest(
        character_id=character_id,
        subject_name="Mia Example",
        purposes=purposes,
        channels=channels,
        territories=territories,
        valid_from=stamp(valid_from or datetime.now(UTC) - timedelta(days=1)),
        evidence_object_id=evidence.object_id,
        evidence_sha256=evidence.sha256,
    )
    if valid_until is not None:
        request.valid_until.CopyFrom(stamp(valid_until))
    response = await client.api.RecordConsent(request)
    return response.consent


async def consenting_character(client: AsyncAssetsClient, name: str = "Mia") -> Actor:
    character = await create_character(client, name)
    evidence = await upload(client, JPEG + name.encode(), pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
    consent = await record_consent(client, character.character_id, evidence)
    photo = await upload(client, PNG + name.encode(), pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
    return Actor(character.character_id, consent.consent_id, photo.object_id, evidence)


async def add_identity(
    client: AsyncAssetsClient,
    character_id: str,
    z_id: Sequence[float],
    photo_ids: Sequence[str],
    model_pack_id: str = "buffalo_l",
) -> pb.IdentityVersion:
    response = await client.api.AddIdentityVersion(
        pb.AddIdentityVersionRequest(
            character_id=character_id,
            z_id=z_id,
            model_pack_id=model_pack_id,
            quality=quality(len(photo_ids)),
            reference_photo_object_ids=photo_ids,
        )
    )
    return response.identity_version


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def filled(message: Any, index: int = 0, repeated: int = 2) -> Any:
    """``message`` with every singular field set to a plausible value, nested messages too, and
    ``repeated`` entries in each repeated message field (the i-th filled with ``index + i``)."""
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None:
            if field.is_repeated:
                for entry in range(repeated):
                    filled(getattr(message, field.name).add(), index + entry, repeated)
            else:
                filled(getattr(message, field.name), index, repeated)
        elif field.is_repeated:
            continue
        elif field.enum_type is not None:
            setattr(message, field.name, field.enum_type.values[-1].number)
        elif field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
            setattr(message, field.name, 0.1 + 0.37 * index)
        elif field.type == field.TYPE_BOOL:
            setattr(message, field.name, True)
        elif field.type == field.TYPE_STRING:
            setattr(message, field.name, f"{field.name} {index} — é")
        else:
            setattr(message, field.name, 7 + index)
    return message


async def tamper_audit(database_url: str, statement: str) -> None:
    """What someone with owner rights on the table could do: switch the append-only guard off and run
    ``statement`` on the audit log."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        await connection.execute("SET search_path TO assets, public")
        await connection.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        await connection.execute(statement)
        await connection.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
