"""The assets and identity services as the generator uses them, through the SDK's gRPC clients.

The generator acts for a job's brand with a short-lived token of the ``service`` role, minted with
the service's own signing key; one client per brand and service is kept open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import numpy as np

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.common.v1 import faces_pb2, usage_pb2
from likeness.api.identity.v1 import identity_service_pb2 as identity_pb
from likeness.errors import NotFound, Unavailable
from likeness.generator.attributes import FEMALE, MALE, NON_BINARY, CharacterAttributes
from likeness.generator.domain import IdentityScore, ModelDescription, StoredKind, UsageChannel, UsagePurpose
from likeness.rpc.auth import ServiceTokens
from likeness.rpc.enums import to_proto
from likeness.sdk import AsyncAssetsClient, AsyncIdentityClient, LikenessError
from likeness.sdk.objects import chunks_of, download_bytes, upload_requests
from likeness.sdk.pages import aiterate

SERVICE_SUBJECT = "service:generator"

_GENDERS = {
    faces_pb2.GENDER_FEMALE: FEMALE,
    faces_pb2.GENDER_MALE: MALE,
    faces_pb2.GENDER_NON_BINARY: NON_BINARY,
}


class PeerError(Exception):
    """A call to another service failed; ``retriable`` when it was unreachable."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @property
    def retriable(self) -> bool:
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _peer_error(error: LikenessError) -> PeerError:
    return PeerError(error.code, error.message)


@dataclass(frozen=True)
class CharacterInfo:
    character_id: str
    #: "active", "archived" or "erased".
    status: str
    current_identity_version: int
    declared_gender: str | None
    declared_age_range: tuple[float, float] | None


@dataclass(frozen=True)
class IdentityVersionInfo:
    character_id: str
    version: int
    #: "active", "pending_review", "rejected", "superseded" or "erased".
    status: str
    model_pack_id: str
    reference_photo_object_ids: tuple[str, ...]
    estimated_gender: str | None
    estimated_age_range: tuple[float, float] | None


@dataclass(frozen=True)
class ConsentAnswer:
    allowed: bool
    consent_id: str
    #: The denial reason's name without prefix (for example "EXPIRED"); "" when allowed.
    reason: str
    message: str


@dataclass(frozen=True)
class ClipScores:
    scores: dict[str, IdentityScore]
    model_pack_id: str


@dataclass(frozen=True)
class GeneratedAssetRecord:
    clip_object_id: str
    job_id: str
    shots: Sequence[tuple[int, str, str, int]]
    #: (character id, identity version, consent id, score)
    characters: Sequence[tuple[str, int, str, IdentityScore]]
    purpose: UsagePurpose
    channel: UsageChannel
    territory: str
    flagged: bool
    flag_reasons: Sequence[str]
    provenance_manifest_sha256: str
    c2pa_manifest_object_id: str
    model: ModelDescription
    scoring_model_pack_id: str


def attributes_of(character: CharacterInfo, identity: IdentityVersionInfo | None) -> CharacterAttributes:
    """Declared attributes win; estimated ones fill the gaps."""
    gender = character.declared_gender
    age = character.declared_age_range
    source = "declared"
    if identity is not None:
        if gender is None and identity.estimated_gender is not None:
            gender, source = identity.estimated_gender, "estimated"
        if age is None and identity.estimated_age_range is not None:
            age, source = identity.estimated_age_range, "estimated"
    return CharacterAttributes(character.character_id, gender, age, source)


class Peers:
    """Typed calls to assets and identity on behalf of a brand."""

    def __init__(
        self,
        assets_address: str,
        identity_address: str,
        tokens: ServiceTokens,
        timeout_s: float = 60.0,
    ) -> None:
        self._assets_address = assets_address
        self._identity_address = identity_address
        self._token = tokens
        self._timeout = timeout_s
        self._assets: dict[str, AsyncAssetsClient] = {}
        self._identity: dict[str, AsyncIdentityClient] = {}

    def assets(self, brand_id: str) -> AsyncAssetsClient:
        if brand_id not in self._assets:
            self._assets[brand_id] = AsyncAssetsClient(
                self._assets_address, token=lambda: self._token(brand_id), timeout_s=self._timeout
            )
        return self._assets[brand_id]

    def identity(self, brand_id: str) -> AsyncIdentityClient:
        if brand_id not in self._identity:
            self._identity[brand_id] = AsyncIdentityClient(
                self._identity_address, token=lambda: self._token(brand_id), timeout_s=self._timeout
            )
        return self._identity[brand_id]

    async def close(self) -> None:
        clients: list[AsyncAssetsClient | AsyncIdentityClient] = [
            *self._assets.values(),
            *self._identity.values(),
        ]
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)

    # ---- registry reads ---------------------------------------------------------------------------

    async def brand_exists(self, brand_id: str) -> bool:
        try:
            await self.assets(brand_id).api.GetBrand(assets_pb.GetBrandRequest(brand_id=brand_id))
        except LikenessError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                return False
            raise Unavailable(
                f"the assets service could not say whether the brand exists: {error.message}"
            ) from None
        return True

    async def character(self, brand_id: str, character_id: str) -> CharacterInfo:
        try:
            response = await self.assets(brand_id).api.GetCharacter(
                assets_pb.GetCharacterRequest(character_id=character_id)
            )
        except LikenessError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"character {character_id!r} not found", "character", character_id) from None
            raise _peer_error(error) from None
        character = response.character
        declared = character.declared_attributes
        age = None
        if declared.HasField("age_range"):
            age = (float(declared.age_range.min_years), float(declared.age_range.max_years))
        return CharacterInfo(
            character_id=character.character_id,
            status=assets_pb.CharacterStatus.Name(character.status).removeprefix("CHARACTER_STATUS_").lower(),
            current_identity_version=character.current_identity_version,
            declared_gender=_GENDERS.get(declared.gender),
            declared_age_range=age,
        )

    async def identity_version(
        self, brand_id: str, character_id: str, version: int
    ) -> IdentityVersionInfo | None:
        """One version's metadata (no embedding is read); None when there is no such version."""
        request = assets_pb.ListIdentityVersionsRequest(character_id=character_id)
        try:
            async for item in aiterate(
                self.assets(brand_id).api.ListIdentityVersions, request, "identity_versions"
            ):
                if item.version == version:
                    return _identity_info(item)
        except LikenessError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"character {character_id!r} not found", "character", character_id) from None
            raise _peer_error(error) from None
        return None

    async def embedding(self, brand_id: str, character_id: str, version: int, job_id: str) -> np.ndarray:
        """The pinned version's z_id (an audited read, with the job as the reason)."""
        try:
            response = await self.assets(brand_id).api.GetIdentity(
                assets_pb.GetIdentityRequest(
                    character_id=character_id, version=version, access_reason=f"generation job {job_id}"
                )
            )
        except LikenessError as error:
            raise _peer_error(error) from None
        return np.asarray(response.identity_version.z_id, dtype=np.float32)

    async def check_consent(
        self, brand_id: str, character_id: str, purpose: UsagePurpose, channel: UsageChannel, territory: str
    ) -> ConsentAnswer:
        try:
            response = await self.assets(brand_id).api.CheckConsent(
                assets_pb.CheckConsentRequest(
                    character_id=character_id,
                    purpose=to_proto(usage_pb2.UsagePurpose, purpose),
                    channel=to_proto(usage_pb2.UsageChannel, channel),
                    territory=territory,
                )
            )
        except LikenessError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"character {character_id!r} not found", "character", character_id) from None
            raise _peer_error(error) from None
        reason = ""
        if not response.allowed:
            reason = assets_pb.ConsentDenialReason.Name(response.denial_reason).removeprefix(
                "CONSENT_DENIAL_REASON_"
            )
        return ConsentAnswer(response.allowed, response.consent_id, reason, response.message)

    # ---- objects ----------------------------------------------------------------------------------

    async def download(self, brand_id: str, object_id: str) -> bytes:
        try:
            _, data = await download_bytes(self.assets(brand_id).api, object_id, deadline_s=self._timeout)
        except LikenessError as error:
            raise _peer_error(error) from None
        return data

    async def upload(
        self, brand_id: str, kind: StoredKind, data: bytes, filename: str, content_type: str
    ) -> str:
        header = assets_pb.UploadObjectHeader(
            purpose=to_proto(assets_pb.ObjectPurpose, kind),
            filename_hint=filename,
            declared_content_type=content_type,
            declared_size_bytes=len(data),
        )
        try:
            response = await self.assets(brand_id).api.UploadObject(upload_requests(header, chunks_of(data)))
        except LikenessError as error:
            raise _peer_error(error) from None
        return str(response.info.object_id)

    async def record_generated_asset(self, brand_id: str, record: GeneratedAssetRecord) -> str:
        request = assets_pb.RecordGeneratedAssetRequest(
            clip_object_id=record.clip_object_id,
            job_id=record.job_id,
            shots=[
                assets_pb.GeneratedShot(shot_index=index, prompt=prompt, negative_prompt=negative, seed=seed)
                for index, prompt, negative, seed in record.shots
            ],
            characters=[
                assets_pb.CharacterUsage(
                    character_id=character_id,
                    identity_version=version,
                    consent_id=consent_id,
                    identity_score=_asset_score(score),
                )
                for character_id, version, consent_id, score in record.characters
            ],
            purpose=to_proto(usage_pb2.UsagePurpose, record.purpose),
            channel=to_proto(usage_pb2.UsageChannel, record.channel),
            territory=record.territory,
            flagged=record.flagged,
            flag_reasons=[reason[:500] for reason in record.flag_reasons[:64]],
            provenance_manifest_sha256=record.provenance_manifest_sha256,
            c2pa_manifest_object_id=record.c2pa_manifest_object_id,
            model=assets_pb.ModelDescription(
                model_id=record.model.model_id,
                adapter_id=record.model.adapter_id,
                random_weights=record.model.random_weights,
            ),
            scoring_model_pack_id=record.scoring_model_pack_id,
        )
        try:
            response = await self.assets(brand_id).api.RecordGeneratedAsset(request)
        except LikenessError as error:
            raise _peer_error(error) from None
        return str(response.generated_asset.generated_asset_id)

    # ---- identity ---------------------------------------------------------------------------------

    async def score_clip(
        self,
        brand_id: str,
        clip_object_id: str,
        identities: Sequence[tuple[str, int, np.ndarray]],
        sample_frames: int,
    ) -> ClipScores:
        """ScoreVideo for (character id, version, z_id) triples, at most 8 per call."""
        scores: dict[str, IdentityScore] = {}
        model_pack_id = ""
        for start in range(0, len(identities), 8):
            batch = identities[start : start + 8]
            try:
                response = await self.identity(brand_id).api.ScoreVideo(
                    identity_pb.ScoreVideoRequest(
                        video_object_id=clip_object_id,
                        identities=[
                            identity_pb.IdentityToScore(label=character_id, z_id=z_id.tolist())
                            for character_id, _, z_id in batch
                        ],
                        sample_frames=sample_frames,
                    )
                )
            except LikenessError as error:
                raise _peer_error(error) from None
            model_pack_id = response.model_pack_id
            versions = {character_id: version for character_id, version, _ in batch}
            for item in response.identity_scores:
                scores[item.label] = IdentityScore(
                    character_id=item.label,
                    identity_version=versions[item.label],
                    mean_similarity=item.mean_similarity if item.HasField("mean_similarity") else None,
                    min_similarity=item.min_similarity if item.HasField("min_similarity") else None,
                    p10_similarity=item.p10_similarity if item.HasField("p10_similarity") else None,
                    no_face_fraction=item.no_face_fraction,
                )
        return ClipScores(scores, model_pack_id)


def _identity_info(item: assets_pb.IdentityVersion) -> IdentityVersionInfo:
    estimated = item.estimated_attributes
    gender = None
    if estimated.HasField("gender"):
        gender = _GENDERS.get(estimated.gender.value)
    age = None
    if estimated.HasField("age"):
        age = (float(estimated.age.low_years), float(estimated.age.high_years))
    return IdentityVersionInfo(
        character_id=item.character_id,
        version=item.version,
        status=assets_pb.IdentityVersionStatus.Name(item.status)
        .removeprefix("IDENTITY_VERSION_STATUS_")
        .lower(),
        model_pack_id=item.model_pack_id,
        reference_photo_object_ids=tuple(item.reference_photo_object_ids),
        estimated_gender=gender,
        estimated_age_range=age,
    )


def _asset_score(score: IdentityScore) -> assets_pb.IdentityScore:
    return assets_pb.IdentityScore(no_face_fraction=score.no_face_fraction, **score.similarities())


def unavailable(error: PeerError) -> Unavailable:
    return Unavailable(f"a dependency is unavailable: {error.message}")
