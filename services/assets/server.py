"""gRPC edge of the assets service: decode requests, call the registry, encode responses.

Brands are served now; characters, identities, consent, audit, objects, search and erasure arrive
with the assets issue and answer UNIMPLEMENTED until then.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from minio import Minio
from psycopg_pool import AsyncConnectionPool

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.assets.v1 import assets_service_pb2_grpc
from likeness.assets.audit import Actor, AuditEvent, AuditFilter, AuditLog, BreakKind, Outcome, Verification
from likeness.assets.brands import Brand, Brands
from likeness.assets.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from likeness.assets.settings import AssetsSettings
from likeness.db import apply_migrations, load_migrations, load_queries, open_pool
from likeness.pagination import decode_page_token, encode_page_token, page_size
from likeness.rpc.access import method_roles
from likeness.rpc.auth import Role, current_principal
from likeness.rpc.interceptors import Context
from likeness.rpc.logging import request_id_var
from likeness.rpc.server import ServiceSpec

SERVICE = pb.DESCRIPTOR.services_by_name["AssetsService"]
ADMIN_OR_SERVICE = frozenset({Role.ADMIN, Role.SERVICE})

ROLES = method_roles(
    SERVICE,
    {
        "CreateBrand": ADMIN_OR_SERVICE,
        "GetBrand": Role.VIEWER,
        "CreateCharacter": Role.EDITOR,
        "GetCharacter": Role.VIEWER,
        "ListCharacters": Role.VIEWER,
        "UpdateCharacter": Role.EDITOR,
        "ArchiveCharacter": Role.EDITOR,
        "AddIdentityVersion": Role.EDITOR,
        "GetIdentity": Role.VIEWER,
        "ListIdentityVersions": Role.VIEWER,
        "SetIdentityVersionStatus": ADMIN_OR_SERVICE,
        "RecordConsent": Role.EDITOR,
        "RevokeConsent": Role.ADMIN,
        "GetConsent": Role.VIEWER,
        "ListConsents": Role.VIEWER,
        "CheckConsent": Role.VIEWER,
        "ListAuditEvents": Role.VIEWER,
        "VerifyAuditChain": Role.ADMIN,
        "UploadObject": Role.EDITOR,
        "DownloadObject": Role.VIEWER,
        "GetObjectUrl": Role.VIEWER,
        "GetObjectInfo": Role.VIEWER,
        "SearchLikeness": Role.VIEWER,
        "RecordGeneratedAsset": Role.SERVICE,
        "GetGeneratedAsset": Role.VIEWER,
        "ListGeneratedAssets": Role.VIEWER,
        "EraseCharacter": Role.ADMIN,
    },
)


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _optional_time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    value: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return value


def _actor() -> Actor:
    return Actor.of(current_principal(), request_id_var.get())


_OUTCOMES = {
    Outcome.SUCCEEDED: pb.AUDIT_OUTCOME_SUCCEEDED,
    Outcome.DENIED: pb.AUDIT_OUTCOME_DENIED,
    Outcome.FAILED: pb.AUDIT_OUTCOME_FAILED,
}
_BREAK_KINDS = {
    BreakKind.HASH_MISMATCH: pb.CHAIN_BREAK_KIND_HASH_MISMATCH,
    BreakKind.PREV_HASH_MISMATCH: pb.CHAIN_BREAK_KIND_PREV_HASH_MISMATCH,
    BreakKind.SEQUENCE_GAP: pb.CHAIN_BREAK_KIND_SEQUENCE_GAP,
}


def audit_event_message(event: AuditEvent) -> pb.AuditEvent:
    details = struct_pb2.Struct()
    details.update(event.details)
    return pb.AuditEvent(
        sequence=event.sequence,
        event_id=str(event.event_id),
        event_time=_timestamp(event.event_time),
        actor_subject=event.actor_subject,
        actor_roles=event.actor_roles,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        request_id=event.request_id,
        outcome=_OUTCOMES[Outcome(event.outcome)],
        details=details,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def verification_message(verification: Verification) -> pb.VerifyAuditChainResponse:
    response = pb.VerifyAuditChainResponse(
        ok=verification.ok,
        events_checked=verification.events_checked,
        first_sequence=verification.first_sequence,
        last_sequence=verification.last_sequence,
        last_hash=verification.last_hash,
    )
    if verification.first_break is not None:
        broken = verification.first_break
        response.first_broken_link.CopyFrom(
            pb.ChainBreak(
                sequence=broken.sequence,
                event_id=broken.event_id,
                kind=_BREAK_KINDS[broken.kind],
                expected_hash=broken.expected_hash,
                found_hash=broken.found_hash,
            )
        )
    return response


def brand_message(brand: Brand) -> pb.Brand:
    return pb.Brand(
        brand_id=brand.brand_id,
        display_name=brand.display_name,
        create_time=_timestamp(brand.created_at),
        created_by=brand.created_by,
    )


@dataclass
class Registry:
    """Everything the servicer needs once start-up is done."""

    pool: AsyncConnectionPool
    objects: ObjectStore
    audit: AuditLog
    brands: Brands


class AssetsServicer(assets_service_pb2_grpc.AssetsServiceServicer):
    def __init__(self) -> None:
        self.registry: Registry | None = None

    @property
    def _registry(self) -> Registry:
        if self.registry is None:
            raise RuntimeError("assets registry used before start-up finished")
        return self.registry

    async def CreateBrand(self, request: pb.CreateBrandRequest, context: Context) -> pb.CreateBrandResponse:
        brand = await self._registry.brands.create(
            current_principal(), _actor(), request.brand_id, request.display_name
        )
        return pb.CreateBrandResponse(brand=brand_message(brand))

    async def GetBrand(self, request: pb.GetBrandRequest, context: Context) -> pb.GetBrandResponse:
        principal = current_principal()
        brand = await self._registry.brands.get(principal, request.brand_id or principal.brand_id)
        return pb.GetBrandResponse(brand=brand_message(brand))

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Context
    ) -> pb.ListAuditEventsResponse:
        brand_id = current_principal().brand_id
        audit_filter = AuditFilter(
            target_type=request.target_type,
            target_id=request.target_id,
            action=request.action,
            actor_subject=request.actor_subject,
            start_time=_optional_time(request, "start_time"),
            end_time=_optional_time(request, "end_time"),
        )
        filters = dataclasses.asdict(audit_filter)
        position = decode_page_token(request.page_token, filters) or {"after": 0}
        limit = page_size(request.page_size)
        async with self._registry.pool.connection() as connection:
            events = await self._registry.audit.list(
                connection, brand_id, audit_filter, after_sequence=int(position["after"]), limit=limit + 1
            )
        response = pb.ListAuditEventsResponse(events=[audit_event_message(e) for e in events[:limit]])
        if len(events) > limit:
            response.next_page_token = encode_page_token({"after": events[limit - 1].sequence}, filters)
        return response

    async def VerifyAuditChain(
        self, request: pb.VerifyAuditChainRequest, context: Context
    ) -> pb.VerifyAuditChainResponse:
        brand_id = current_principal().brand_id
        async with self._registry.pool.connection() as connection:
            async with connection.transaction():
                verification = await self._registry.audit.verify(
                    connection, brand_id, request.from_sequence, request.to_sequence
                )
            # Recorded after the check, so it never covers itself.
            async with connection.transaction():
                await self._registry.audit.append(
                    connection,
                    brand_id,
                    _actor(),
                    "audit.verify",
                    "audit_chain",
                    brand_id,
                    details={
                        "ok": verification.ok,
                        "events_checked": verification.events_checked,
                        "first_broken_sequence": (
                            verification.first_break.sequence if verification.first_break else 0
                        ),
                    },
                )
        return verification_message(verification)


def object_store(settings: AssetsSettings) -> ObjectStore:
    if settings.s3_endpoint:
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
            region=settings.s3_region,
            secure=settings.s3_secure,
        )
        return S3ObjectStore(client, settings.s3_bucket)
    if settings.object_store_dir is None:
        raise ValueError("set LIKENESS_ASSETS_OBJECT_STORE_DIR or LIKENESS_ASSETS_S3_ENDPOINT")
    return LocalObjectStore(settings.object_store_dir)


def build_spec(settings: AssetsSettings) -> ServiceSpec:
    servicer = AssetsServicer()  # type: ignore[abstract]

    async def start() -> None:
        objects = object_store(settings)
        pool = await open_pool(settings)
        try:
            async with pool.connection() as connection:
                await apply_migrations(
                    connection, settings.database_schema, load_migrations("likeness.assets")
                )
            await objects.ensure_ready()
        except BaseException:
            await pool.close()
            raise
        queries = load_queries("likeness.assets")
        audit = AuditLog(queries)
        servicer.registry = Registry(pool, objects, audit, Brands(pool, queries, audit))

    async def stop() -> None:
        if servicer.registry is not None:
            await servicer.registry.pool.close()

    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: assets_service_pb2_grpc.add_AssetsServiceServicer_to_server(servicer, server),
        method_roles=ROLES,
        start=start,
        stop=stop,
    )
