"""The assets service's handlers: decode each request, call the registry, encode the response."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.assets.v1 import assets_service_pb2_grpc
from likeness.assets.audit import Actor, AuditFilter
from likeness.assets.checkpoints import check_against_checkpoint
from likeness.assets.consent import ConsentDraft
from likeness.assets.identities import IdentityDraft, IdentityVersion
from likeness.assets.messages import (
    CHANNEL,
    CHARACTER_STATUS,
    OBJECT_PURPOSE,
    PURPOSE,
    audit_event_message,
    brand_message,
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
    optional_time,
    timestamp,
    to_dict,
    verification_message,
)
from likeness.assets.objects import DOWNLOAD_CHUNK_BYTES, UploadHeader
from likeness.assets.registry import Caller, Registry, parse_uuid
from likeness.errors import FieldViolation, InvalidArgument, PermissionDenied, Unavailable
from likeness.pagination import KeyField, Keyset, page_size
from likeness.rpc.auth import Role, current_principal
from likeness.rpc.interceptors import Context
from likeness.rpc.logging import request_id_var

DEFAULT_URL_LIFETIME = timedelta(minutes=15)
#: The audit log pages in chain order, after a sequence number.
BY_SEQUENCE = Keyset(after=KeyField(int, "after_sequence", 0))


def _actor() -> Actor:
    return Actor.of(current_principal(), request_id_var.get())


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
            start_time=optional_time(request, "start_time"),
            end_time=optional_time(request, "end_time"),
        )
        filters = dataclasses.asdict(audit_filter)
        limit = page_size(request.page_size)
        bound = BY_SEQUENCE.bound(request.page_token, filters, limit)
        async with self._registry.pool.connection() as connection:
            rows = await self._registry.audit.list(connection, brand_id, audit_filter, **bound)
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
                        connection, checkpointer.audit, checkpointer.checkpoints, brand_id
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
            valid_until=optional_time(request, "valid_until"),
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
            optional_time(request, "at"),
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
            url=url, expire_time=timestamp(issued + expires_in), info=object_message(info)
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


def _identity_response(identity: IdentityVersion) -> pb.GetIdentityResponse:
    return pb.GetIdentityResponse(identity_version=identity_message(identity, with_embedding=True))
