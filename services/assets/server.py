"""gRPC edge of the assets service: decode requests, call the registry, encode responses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from minio import Minio
from psycopg_pool import AsyncConnectionPool

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.assets.v1 import assets_service_pb2_grpc
from likeness.assets import vectors
from likeness.assets.audit import Actor, AuditEvent, AuditFilter, AuditLog, BreakKind, Outcome, Verification
from likeness.assets.brands import Brand, Brands
from likeness.assets.cache import IdentityCache, InvalidationListener
from likeness.assets.characters import Characters
from likeness.assets.checkpoints import Checkpointer, CheckpointStore, check_against_checkpoint
from likeness.assets.consent import ConsentDraft, Consents
from likeness.assets.erasure import Eraser
from likeness.assets.generated import GeneratedAssets
from likeness.assets.identities import Identities, IdentityDraft, IdentityVersion
from likeness.assets.messages import (
    CHANNEL,
    CHARACTER_STATUS,
    OBJECT_PURPOSE,
    PURPOSE,
    character_message,
    consent_check_message,
    consent_message,
    declared_attributes_changes,
    erasure_message,
    generated_asset_draft,
    generated_asset_message,
    identity_message,
    likeness_match_message,
    object_message,
    to_dict,
)
from likeness.assets.objects import DOWNLOAD_CHUNK_BYTES, Objects, UploadHeader
from likeness.assets.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from likeness.assets.registry import Caller, parse_uuid
from likeness.assets.search import Search
from likeness.assets.settings import AssetsSettings
from likeness.db import load_queries, migrate, open_pool
from likeness.errors import FieldViolation, InvalidArgument, PermissionDenied, Unavailable
from likeness.pagination import Keyset, page_size
from likeness.rpc.access import method_roles, refused_actions
from likeness.rpc.auth import Principal, Role, current_principal
from likeness.rpc.interceptors import Context
from likeness.rpc.logging import request_id_var
from likeness.rpc.server import ServiceSpec

logger = logging.getLogger("likeness.assets")
DEFAULT_URL_LIFETIME = timedelta(minutes=15)

SERVICE = pb.DESCRIPTOR.services_by_name["AssetsService"]

ROLES = method_roles(SERVICE)


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
    BreakKind.TRUNCATED: pb.CHAIN_BREAK_KIND_TRUNCATED,
    BreakKind.CHECKPOINT_MISMATCH: pb.CHAIN_BREAK_KIND_CHECKPOINT_MISMATCH,
    BreakKind.CHECKPOINT_INVALID: pb.CHAIN_BREAK_KIND_CHECKPOINT_INVALID,
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
    objects_store: ObjectStore
    audit: AuditLog
    brands: Brands
    characters: Characters
    objects: Objects
    consents: Consents
    identities: Identities
    search: Search
    generated: GeneratedAssets
    eraser: Eraser
    cache: IdentityCache
    #: None when no checkpoint key is configured (the chain is then its own only evidence).
    checkpointer: Checkpointer | None = None


# What a call refused for lack of a role is recorded as (the contract says, per RPC).
REFUSED_ACTIONS = refused_actions(SERVICE)
#: The audit log pages in chain order, after a sequence number.
BY_SEQUENCE = Keyset(after=int)


async def record_denied_call(
    registry: Registry | None, method: str, principal: Principal, request: Any, denied: PermissionDenied
) -> None:
    """Audit a write refused for lack of a role, in the caller's brand."""
    entry = REFUSED_ACTIONS.get(method.rsplit("/", 1)[-1])
    if registry is None or entry is None:
        return
    field = entry.target_field
    target_id = str(getattr(request, field, "")) if field and request is not None else ""
    # The request was refused before validation: its target may be anything. What the log keeps of it
    # must still be storable (no NUL, short enough for the index), so that no refusal goes unrecorded.
    target_id = target_id.replace("\x00", "\\x00")[:200]
    try:
        async with registry.pool.connection() as connection, connection.transaction():
            await registry.audit.append(
                connection,
                principal.brand_id,
                Actor.of(principal, request_id_var.get()),
                entry.action,
                entry.target_type,
                target_id,
                Outcome.DENIED,
                details={"error": denied.message},
            )
    except Exception:  # the caller still gets PERMISSION_DENIED
        logger.warning("could not audit a refused call", extra={"method": method}, exc_info=True)


def _caller() -> Caller:
    principal = current_principal()
    return Caller(principal.brand_id, principal.subject, Role.SERVICE in principal.roles, _actor())


def _character_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "character")


class AssetsServicer(assets_service_pb2_grpc.AssetsServiceServicer):
    def __init__(self) -> None:
        self.registry: Registry | None = None

    @property
    def _registry(self) -> Registry:
        if self.registry is None:
            # Listening starts before the database is reached (health says NOT_SERVING meanwhile):
            # UNAVAILABLE, as the other services answer, so that clients retry.
            raise Unavailable("the assets service is starting; retry shortly")
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
        position = BY_SEQUENCE.after(request.page_token, filters) or {"after": 0}
        limit = page_size(request.page_size)
        async with self._registry.pool.connection() as connection:
            rows = await self._registry.audit.list(
                connection, brand_id, audit_filter, after_sequence=position["after"], limit=limit + 1
            )
        events, token = BY_SEQUENCE.page(rows, limit, filters, lambda event: {"after": event.sequence})
        return pb.ListAuditEventsResponse(
            events=[audit_event_message(event) for event in events], next_page_token=token
        )

    async def VerifyAuditChain(
        self, request: pb.VerifyAuditChainRequest, context: Context
    ) -> pb.VerifyAuditChainResponse:
        brand_id = current_principal().brand_id
        async with self._registry.pool.connection() as connection:
            checkpointer = self._registry.checkpointer
            checkpoint_sequence = 0
            async with connection.transaction():
                verification = await self._registry.audit.verify(
                    connection, brand_id, request.from_sequence, request.to_sequence
                )
                if checkpointer is not None:
                    found, checkpoint_sequence = await check_against_checkpoint(
                        connection, checkpointer.queries, checkpointer.checkpoints, brand_id
                    )
                    # A break in the links comes first: it is earlier, or the cause of this one.
                    if verification.ok and found is not None:
                        verification.first_break = found
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
                        "checkpoint_sequence": checkpoint_sequence,
                    },
                )
        if checkpointer is not None and verification.ok:
            await checkpointer.record(brand_id)  # the head just verified, anchored outside the database
        response = verification_message(verification)
        response.checkpoint_sequence = checkpoint_sequence
        return response

    # -- characters -------------------------------------------------------------------------------

    async def CreateCharacter(
        self, request: pb.CreateCharacterRequest, context: Context
    ) -> pb.CreateCharacterResponse:
        attributes = to_dict(request.declared_attributes) if request.HasField("declared_attributes") else None
        character = await self._registry.characters.create(
            _caller(), request.display_name, request.description, attributes
        )
        return pb.CreateCharacterResponse(character=character_message(character))

    async def GetCharacter(
        self, request: pb.GetCharacterRequest, context: Context
    ) -> pb.GetCharacterResponse:
        character = await self._registry.characters.get(_caller(), _character_id(request.character_id))
        return pb.GetCharacterResponse(character=character_message(character))

    async def ListCharacters(
        self, request: pb.ListCharactersRequest, context: Context
    ) -> pb.ListCharactersResponse:
        status = CHARACTER_STATUS.name(request.status) if request.status else ""
        page = await self._registry.characters.list(
            _caller(), status, page_size(request.page_size), request.page_token
        )
        return pb.ListCharactersResponse(
            characters=[character_message(character) for character in page.characters],
            next_page_token=page.next_page_token,
        )

    async def UpdateCharacter(
        self, request: pb.UpdateCharacterRequest, context: Context
    ) -> pb.UpdateCharacterResponse:
        character = await self._registry.characters.update(
            _caller(), _character_id(request.character_id), declared_attributes_changes(request), request.etag
        )
        return pb.UpdateCharacterResponse(character=character_message(character))

    async def ArchiveCharacter(
        self, request: pb.ArchiveCharacterRequest, context: Context
    ) -> pb.ArchiveCharacterResponse:
        character_id = _character_id(request.character_id)
        character, changed = await self._registry.characters.archive(_caller(), character_id)
        if changed:
            self._registry.cache.invalidate(character.brand_id, character_id)
        return pb.ArchiveCharacterResponse(character=character_message(character))

    # -- identity versions ------------------------------------------------------------------------

    async def AddIdentityVersion(
        self, request: pb.AddIdentityVersionRequest, context: Context
    ) -> pb.AddIdentityVersionResponse:
        draft = IdentityDraft(
            character_id=_character_id(request.character_id),
            z_id=list(request.z_id),
            model_pack_id=request.model_pack_id,
            quality=to_dict(request.quality),
            reference_photo_object_ids=[
                parse_uuid(object_id, "object") for object_id in request.reference_photo_object_ids
            ],
            estimated_attributes=(
                to_dict(request.estimated_attributes) if request.HasField("estimated_attributes") else None
            ),
        )
        identity = await self._registry.identities.add(_caller(), draft)
        return pb.AddIdentityVersionResponse(identity_version=identity_message(identity))

    async def GetIdentity(self, request: pb.GetIdentityRequest, context: Context) -> pb.GetIdentityResponse:
        # Hot versions come back as the response built when they were cached (shared: not modified).
        return await self._registry.identities.get(
            _caller(),
            _character_id(request.character_id),
            request.version,
            request.access_reason,
            render=_identity_response,
        )

    async def ListIdentityVersions(
        self, request: pb.ListIdentityVersionsRequest, context: Context
    ) -> pb.ListIdentityVersionsResponse:
        versions, token = await self._registry.identities.list(
            _caller(), _character_id(request.character_id), page_size(request.page_size), request.page_token
        )
        return pb.ListIdentityVersionsResponse(
            identity_versions=[identity_message(version) for version in versions], next_page_token=token
        )

    async def SetIdentityVersionStatus(
        self, request: pb.SetIdentityVersionStatusRequest, context: Context
    ) -> pb.SetIdentityVersionStatusResponse:
        caller = _caller()
        if request.status == pb.IDENTITY_VERSION_STATUS_ACTIVE and not caller.is_service:
            # A version is held for review because it looks like another brand's character: the brand
            # that holds it cannot clear itself. Its admin may reject it.
            raise PermissionDenied(
                "approving an identity version held for a cross-brand likeness collision needs the service "
                "role (the platform's review); the brand's admin can reject it"
            )
        identity = await self._registry.identities.review(
            caller,
            _character_id(request.character_id),
            request.version,
            approve=request.status == pb.IDENTITY_VERSION_STATUS_ACTIVE,
            reason=request.reason,
        )
        return pb.SetIdentityVersionStatusResponse(identity_version=identity_message(identity))

    # -- consent ----------------------------------------------------------------------------------

    async def RecordConsent(
        self, request: pb.RecordConsentRequest, context: Context
    ) -> pb.RecordConsentResponse:
        draft = ConsentDraft(
            character_id=_character_id(request.character_id),
            subject_name=request.subject_name,
            purposes=[PURPOSE.name(value) for value in request.purposes],
            channels=[CHANNEL.name(value) for value in request.channels],
            territories=list(request.territories),
            valid_from=request.valid_from.ToDatetime(tzinfo=UTC),
            valid_until=_optional_time(request, "valid_until"),
            evidence_object_id=parse_uuid(request.evidence_object_id, "object"),
            evidence_sha256=request.evidence_sha256,
            notes=request.notes,
        )
        record = await self._registry.consents.record(_caller(), draft)
        return pb.RecordConsentResponse(consent=consent_message(record))

    async def RevokeConsent(
        self, request: pb.RevokeConsentRequest, context: Context
    ) -> pb.RevokeConsentResponse:
        record = await self._registry.consents.revoke(
            _caller(), parse_uuid(request.consent_id, "consent"), request.reason
        )
        return pb.RevokeConsentResponse(consent=consent_message(record))

    async def GetConsent(self, request: pb.GetConsentRequest, context: Context) -> pb.GetConsentResponse:
        record = await self._registry.consents.get(_caller(), parse_uuid(request.consent_id, "consent"))
        return pb.GetConsentResponse(consent=consent_message(record))

    async def ListConsents(
        self, request: pb.ListConsentsRequest, context: Context
    ) -> pb.ListConsentsResponse:
        records, token = await self._registry.consents.list(
            _caller(), _character_id(request.character_id), page_size(request.page_size), request.page_token
        )
        now = datetime.now(UTC)
        return pb.ListConsentsResponse(
            consents=[consent_message(record, now) for record in records], next_page_token=token
        )

    async def CheckConsent(
        self, request: pb.CheckConsentRequest, context: Context
    ) -> pb.CheckConsentResponse:
        answer = await self._registry.consents.check(
            _caller(),
            _character_id(request.character_id),
            PURPOSE.name(request.purpose),
            CHANNEL.name(request.channel),
            request.territory,
            _optional_time(request, "at"),
        )
        return consent_check_message(answer)

    # -- objects ----------------------------------------------------------------------------------

    async def UploadObject(
        self, request_iterator: AsyncIterator[pb.UploadObjectRequest], context: Context
    ) -> pb.UploadObjectResponse:
        messages = request_iterator.__aiter__()
        first = await anext(messages, None)
        if first is None or first.WhichOneof("content") != "header":
            raise InvalidArgument(
                "the first message of an upload must be its header",
                [FieldViolation("header", "send an UploadObjectHeader first")],
            )
        header = first.header
        declared_size = header.declared_size_bytes if header.HasField("declared_size_bytes") else None

        async def chunks() -> AsyncIterator[bytes]:
            async for message in messages:
                if message.WhichOneof("content") != "chunk":
                    raise InvalidArgument(
                        "every message after the header must be a chunk",
                        [FieldViolation("chunk", "send the header once, then chunks")],
                    )
                yield message.chunk

        info = await self._registry.objects.upload(
            _caller(),
            UploadHeader(
                purpose=OBJECT_PURPOSE.name(header.purpose),
                filename_hint=header.filename_hint,
                declared_content_type=header.declared_content_type,
                declared_size_bytes=declared_size,
            ),
            chunks(),
        )
        return pb.UploadObjectResponse(info=object_message(info))

    async def DownloadObject(
        self, request: pb.DownloadObjectRequest, context: Context
    ) -> AsyncIterator[pb.DownloadObjectResponse]:
        info, data = await self._registry.objects.download(_caller(), parse_uuid(request.object_id, "object"))
        yield pb.DownloadObjectResponse(info=object_message(info))
        for offset in range(0, len(data), DOWNLOAD_CHUNK_BYTES):
            yield pb.DownloadObjectResponse(chunk=data[offset : offset + DOWNLOAD_CHUNK_BYTES])

    async def GetObjectUrl(
        self, request: pb.GetObjectUrlRequest, context: Context
    ) -> pb.GetObjectUrlResponse:
        expires_in = (
            request.expires_in.ToTimedelta() if request.HasField("expires_in") else DEFAULT_URL_LIFETIME
        )
        issued = datetime.now(UTC)
        info, url = await self._registry.objects.url(
            _caller(), parse_uuid(request.object_id, "object"), expires_in
        )
        return pb.GetObjectUrlResponse(
            url=url, expire_time=_timestamp(issued + expires_in), info=object_message(info)
        )

    async def GetObjectInfo(
        self, request: pb.GetObjectInfoRequest, context: Context
    ) -> pb.GetObjectInfoResponse:
        info = await self._registry.objects.info(_caller(), parse_uuid(request.object_id, "object"))
        return pb.GetObjectInfoResponse(info=object_message(info))

    # -- search, generated assets, erasure --------------------------------------------------------

    async def SearchLikeness(
        self, request: pb.SearchLikenessRequest, context: Context
    ) -> pb.SearchLikenessResponse:
        matches = await self._registry.search.search(
            _caller(),
            list(request.z_id),
            request.model_pack_id,
            request.top_k,
            request.min_similarity if request.HasField("min_similarity") else None,
        )
        return pb.SearchLikenessResponse(matches=[likeness_match_message(match) for match in matches])

    async def RecordGeneratedAsset(
        self, request: pb.RecordGeneratedAssetRequest, context: Context
    ) -> pb.RecordGeneratedAssetResponse:
        asset = await self._registry.generated.record(_caller(), generated_asset_draft(request))
        return pb.RecordGeneratedAssetResponse(generated_asset=generated_asset_message(asset))

    async def GetGeneratedAsset(
        self, request: pb.GetGeneratedAssetRequest, context: Context
    ) -> pb.GetGeneratedAssetResponse:
        asset = await self._registry.generated.get(
            _caller(), parse_uuid(request.generated_asset_id, "generated_asset")
        )
        return pb.GetGeneratedAssetResponse(generated_asset=generated_asset_message(asset))

    async def ListGeneratedAssets(
        self, request: pb.ListGeneratedAssetsRequest, context: Context
    ) -> pb.ListGeneratedAssetsResponse:
        assets, token = await self._registry.generated.list(
            _caller(),
            uuid.UUID(request.character_id) if request.character_id else None,
            uuid.UUID(request.job_id) if request.job_id else None,
            page_size(request.page_size),
            request.page_token,
        )
        return pb.ListGeneratedAssetsResponse(
            generated_assets=[generated_asset_message(asset) for asset in assets], next_page_token=token
        )

    async def EraseCharacter(
        self, request: pb.EraseCharacterRequest, context: Context
    ) -> pb.EraseCharacterResponse:
        erasure = await self._registry.eraser.erase(
            _caller(), _character_id(request.character_id), request.reason
        )
        return erasure_message(erasure)


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


async def _sweep_forever(objects: Objects, interval_s: float, grace: timedelta) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await objects.sweep_orphans(grace)
        except Exception:
            logger.warning("orphan sweep failed", exc_info=True)


def build_registry(
    settings: AssetsSettings, pool: AsyncConnectionPool, objects_store: ObjectStore, queries: dict[str, str]
) -> Registry:
    audit = AuditLog(queries)
    cache = IdentityCache(settings.identity_cache_entries, settings.identity_cache_ttl_s)
    characters = Characters(pool, queries, audit)
    objects = Objects(pool, queries, audit, store=objects_store, max_upload_bytes=settings.max_upload_bytes)
    consents = Consents(pool, queries, audit, characters=characters, objects=objects)
    identities = Identities(
        pool,
        queries,
        audit,
        characters=characters,
        consents=consents,
        objects=objects,
        cache=cache,
        collision_threshold=settings.collision_threshold,
        read_audit_async_commit=settings.read_audit_async_commit,
    )
    search = Search(
        pool,
        queries,
        audit,
        search_ef=settings.search_ef,
        read_audit_async_commit=settings.read_audit_async_commit,
    )
    generated = GeneratedAssets(
        pool, queries, audit, characters=characters, consents=consents, identities=identities, objects=objects
    )
    eraser = Eraser(pool, queries, audit, characters=characters, store=objects_store, cache=cache)
    key = settings.audit_checkpoint_key
    checkpointer = (
        Checkpointer(pool, queries, audit, CheckpointStore(objects_store, key.get_secret_value().encode()))
        if key is not None
        else None
    )
    return Registry(
        pool=pool,
        objects_store=objects_store,
        audit=audit,
        brands=Brands(pool, queries, audit),
        characters=characters,
        objects=objects,
        consents=consents,
        identities=identities,
        search=search,
        generated=generated,
        eraser=eraser,
        cache=cache,
        checkpointer=checkpointer,
    )


def build_spec(settings: AssetsSettings) -> ServiceSpec:
    servicer = AssetsServicer()  # type: ignore[abstract]
    background: list[asyncio.Task[None]] = []
    listeners: list[InvalidationListener] = []

    async def start() -> None:
        objects_store = object_store(settings)
        queries = load_queries("likeness.assets")
        pool = await open_pool(settings, configure=vectors.connection_setup(queries, settings.search_ef))
        try:
            await migrate(settings, "likeness.assets", append_only=("audit_events",))
            await objects_store.ensure_ready()
            registry = build_registry(settings, pool, objects_store, queries)
            if registry.cache.enabled:
                listener = InvalidationListener(settings.database_url, registry.cache)
                await listener.start()
                listeners.append(listener)
        except BaseException:
            await pool.close()
            raise
        if settings.orphan_sweep_interval_s > 0:
            background.append(
                asyncio.create_task(
                    _sweep_forever(
                        registry.objects,
                        settings.orphan_sweep_interval_s,
                        timedelta(seconds=settings.orphan_grace_s),
                    ),
                    name="orphan-sweep",
                )
            )
        if registry.checkpointer is not None and settings.audit_checkpoint_interval_s > 0:
            background.append(
                asyncio.create_task(
                    registry.checkpointer.run_forever(settings.audit_checkpoint_interval_s),
                    name="audit-checkpoints",
                )
            )
        elif registry.checkpointer is None:
            logger.warning(
                "no audit checkpoint key: a rewrite of the audit chain by the database's owner goes unseen"
            )
        servicer.registry = registry

    async def stop() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for listener in listeners:
            await listener.stop()
        if servicer.registry is not None:
            await servicer.registry.pool.close()

    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: assets_service_pb2_grpc.add_AssetsServiceServicer_to_server(servicer, server),
        method_roles=ROLES,
        start=start,
        stop=stop,
        on_denied=lambda method, principal, request, denied: record_denied_call(
            servicer.registry, method, principal, request, denied
        ),
        brand_exists=lambda brand_id: servicer._registry.brands.exists(brand_id),
        brandless_methods=frozenset({"CreateBrand"}),
    )


def _identity_response(identity: IdentityVersion) -> pb.GetIdentityResponse:
    return pb.GetIdentityResponse(identity_version=identity_message(identity, with_embedding=True))
