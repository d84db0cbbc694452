"""gRPC edge of the identity service: requests in, domain calls, responses out.

Face models load at start-up (health stays NOT_SERVING until they have); every response names the
model pack that produced it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable

import numpy as np
from google.protobuf import duration_pb2

from likeness.api.common.v1 import faces_pb2
from likeness.api.identity.v1 import identity_service_pb2 as pb
from likeness.api.identity.v1 import identity_service_pb2_grpc
from likeness.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PreconditionViolation,
    Unavailable,
)
from likeness.identity.encode import EncodedIdentity, Photo, encode_identity
from likeness.identity.engine import FaceEngine
from likeness.identity.media import MediaError, VideoReader, decode_image
from likeness.identity.objects import ObjectReader
from likeness.identity.quality import Thresholds
from likeness.identity.settings import IdentitySettings
from likeness.identity.video import VideoScore, score_video
from likeness.rpc.access import method_roles
from likeness.rpc.enums import to_proto
from likeness.rpc.server import ServiceSpec

logger = logging.getLogger("likeness.identity")

SERVICE = pb.DESCRIPTOR.services_by_name["IdentityService"]

ROLES = method_roles(SERVICE)
EMBEDDING_SIZE = 512
NORM_TOLERANCE = 1e-3
_GENDERS = {"female": faces_pb2.GENDER_FEMALE, "male": faces_pb2.GENDER_MALE}


def embedding_from(values: Iterable[float], field: str) -> np.ndarray:
    """A request's z_id as a unit float32 vector, or InvalidArgument naming the field."""
    vector = np.asarray(list(values), dtype=np.float64)
    if vector.shape != (EMBEDDING_SIZE,) or not np.isfinite(vector).all():
        raise InvalidArgument(
            f"{field} must be {EMBEDDING_SIZE} finite values",
            [FieldViolation(field, f"must be {EMBEDDING_SIZE} finite values, got {vector.size}")],
        )
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        raise InvalidArgument(
            f"{field} is not L2-normalised (norm {norm:.4f})",
            [FieldViolation(field, f"must have an L2 norm within {NORM_TOLERANCE} of 1, got {norm:.4f}")],
        )
    return vector.astype(np.float32)


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


def _thresholds_message(thresholds: Thresholds) -> pb.QualityThresholds:
    return pb.QualityThresholds(
        min_face_size_px=thresholds.min_face_size_px,
        min_detector_score=thresholds.min_detector_score,
        min_blur_variance=thresholds.min_blur_variance,
        min_mean_luminance=thresholds.min_mean_luminance,
        max_mean_luminance=thresholds.max_mean_luminance,
        max_clipped_fraction=thresholds.max_clipped_fraction,
        max_abs_yaw_degrees=thresholds.max_abs_yaw_degrees,
        max_abs_pitch_degrees=thresholds.max_abs_pitch_degrees,
        outlier_similarity_threshold=thresholds.outlier_similarity_threshold,
    )


def encode_response(result: EncodedIdentity) -> pb.EncodeIdentityResponse:
    reports = []
    for report in result.reports:
        message = pb.PhotoQualityReport(
            index=report.index,
            label=report.label,
            accepted=report.accepted,
            rejection_reason=to_proto(faces_pb2.PhotoRejectionReason, report.rejection),
            rejection_message=report.rejection_message,
            image_width_px=report.width_px,
            image_height_px=report.height_px,
            face_count=report.face_count,
        )
        measured = report.measurements
        if measured is not None:
            x1, y1, x2, y2 = measured.face.box
            message.face_box.CopyFrom(
                pb.FaceBox(x=math.floor(x1), y=math.floor(y1), width=round(x2 - x1), height=round(y2 - y1))
            )
            message.face_size_px = measured.face.size_px
            message.detector_score = measured.face.score
            message.blur_variance = measured.blur_variance
            message.exposure.CopyFrom(
                pb.Exposure(
                    mean_luminance=measured.exposure.mean_luminance,
                    dark_clipped_fraction=measured.exposure.dark_clipped_fraction,
                    bright_clipped_fraction=measured.exposure.bright_clipped_fraction,
                )
            )
            message.head_pose.CopyFrom(
                pb.HeadPose(
                    yaw_degrees=measured.pose.yaw_degrees,
                    pitch_degrees=measured.pose.pitch_degrees,
                    roll_degrees=measured.pose.roll_degrees,
                )
            )
        if report.mean_similarity_to_others is not None:
            message.mean_similarity_to_others = report.mean_similarity_to_others
        if report.similarity_to_aggregate is not None:
            message.similarity_to_aggregate = report.similarity_to_aggregate
        reports.append(message)
    attributes = pb.EstimatedAttributes()
    if result.age is not None:
        attributes.age.CopyFrom(
            pb.AgeEstimate(
                years=result.age.years,
                low_years=result.age.low_years,
                high_years=result.age.high_years,
                confidence=result.age.confidence,
            )
        )
    if result.gender is not None:
        attributes.gender.CopyFrom(
            pb.GenderEstimate(
                value=_GENDERS.get(result.gender.value, faces_pb2.GENDER_UNSPECIFIED),
                confidence=result.gender.confidence,
            )
        )
    return pb.EncodeIdentityResponse(
        z_id=result.z_id.tolist(),
        model_pack_id=result.model_pack_id,
        photo_reports=reports,
        consistency_score=result.consistency_score,
        accepted_count=result.accepted_count,
        estimated_attributes=attributes,
        thresholds=_thresholds_message(result.thresholds),
    )


def video_response(result: VideoScore) -> pb.ScoreVideoResponse:
    scores = []
    for identity in result.identities:
        message = pb.IdentityVideoScore(
            label=identity.label,
            frames=[
                pb.FrameSimilarity(
                    frame_index=frame.frame_index,
                    timestamp=_duration(frame.timestamp_s),
                    face_found=frame.similarity is not None,
                    similarity=frame.similarity,
                )
                for frame in identity.frames
            ],
            no_face_fraction=identity.no_face_fraction,
        )
        for field, value in (
            ("mean_similarity", identity.mean),
            ("min_similarity", identity.minimum),
            ("p10_similarity", identity.p10),
            ("p50_similarity", identity.p50),
            ("p90_similarity", identity.p90),
            ("adjacent_frame_consistency", identity.adjacent_frame_consistency),
        ):
            if value is not None:
                setattr(message, field, value)
        scores.append(message)
    info = result.info
    return pb.ScoreVideoResponse(
        identity_scores=scores,
        frames_sampled=result.frames_sampled,
        video=pb.VideoInfo(
            duration=_duration(info.duration_s),
            fps=info.fps,
            frame_count=info.frame_count,
            width_px=info.width_px,
            height_px=info.height_px,
        ),
        model_pack_id=result.model_pack_id,
    )


class IdentityServicer(identity_service_pb2_grpc.IdentityServiceServicer):
    """Face detection, alignment, embedding and scoring."""

    def __init__(self, settings: IdentitySettings, engine: FaceEngine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._owns_engine = engine is None
        self.objects = ObjectReader(settings)

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            raise Unavailable("face models are still loading; retry with backoff")
        return self._engine

    async def start(self) -> None:
        if self._engine is None:

            def load() -> FaceEngine:
                engine = FaceEngine(self.settings)
                engine.start()
                return engine

            self._engine = await asyncio.to_thread(load)
        self.objects.open()

    async def stop(self) -> None:
        await self.objects.close()
        if self._engine is not None and self._owns_engine:
            await asyncio.to_thread(self._engine.stop)

    def _check_pack(self, model_pack_id: str) -> None:
        if model_pack_id and model_pack_id != self.engine.pack_id:
            raise FailedPrecondition(
                f"embeddings were made with model pack {model_pack_id!r}, this server runs "
                f"{self.engine.pack_id!r}; scores across packs are meaningless",
                [
                    PreconditionViolation(
                        type="MODEL_PACK_MISMATCH",
                        subject="model_pack_id",
                        description=f"this server runs {self.engine.pack_id!r}",
                    )
                ],
            )

    async def _photo(self, index: int, photo: pb.ReferencePhoto) -> Photo:
        field = f"reference_photos[{index}]"
        if photo.WhichOneof("source") == "object_id":
            data = await self.objects.read(photo.object_id, self.settings.max_image_bytes, field)
        else:
            data = photo.image
        settings = self.settings
        try:
            image = await asyncio.to_thread(
                decode_image,
                data,
                max_bytes=settings.max_image_bytes,
                max_pixels=settings.max_image_pixels,
                min_side_px=settings.min_image_side_px,
            )
        except MediaError as error:
            raise InvalidArgument(f"{field}: {error}", [FieldViolation(field, str(error))]) from None
        return Photo(image=image, label=photo.label)

    async def EncodeIdentity(
        self, request: pb.EncodeIdentityRequest, context: object
    ) -> pb.EncodeIdentityResponse:
        engine = self.engine
        photos = await asyncio.gather(
            *(self._photo(index, photo) for index, photo in enumerate(request.reference_photos))
        )
        options = request.options
        defaults = Thresholds(outlier_similarity_threshold=engine.same_person_threshold)
        thresholds = defaults.with_overrides(
            options.outlier_similarity_threshold
            if options.HasField("outlier_similarity_threshold")
            else None,
            options.min_face_size_px if options.HasField("min_face_size_px") else None,
        )
        result = await encode_identity(engine, list(photos), thresholds)
        return encode_response(result)

    async def CompareIdentities(
        self, request: pb.CompareIdentitiesRequest, context: object
    ) -> pb.CompareIdentitiesResponse:
        engine = self.engine
        self._check_pack(request.model_pack_id)
        first = embedding_from(request.first_z_id, "first_z_id")
        second = embedding_from(request.second_z_id, "second_z_id")
        cosine = float(np.clip(first @ second, -1.0, 1.0))
        threshold = engine.same_person_threshold
        return pb.CompareIdentitiesResponse(
            cosine_similarity=cosine,
            same_person=cosine >= threshold,
            threshold=threshold,
            model_pack_id=engine.pack_id,
        )

    async def ScoreVideo(self, request: pb.ScoreVideoRequest, context: object) -> pb.ScoreVideoResponse:
        engine = self.engine
        self._check_pack(request.model_pack_id)
        identities = [
            (identity.label, embedding_from(identity.z_id, f"identities[{index}].z_id"))
            for index, identity in enumerate(request.identities)
        ]
        settings = self.settings
        if request.WhichOneof("video") == "video_object_id":
            field = "video_object_id"
            data = await self.objects.read(request.video_object_id, settings.max_video_bytes, field)
        else:
            field, data = "video_bytes", request.video_bytes
        try:
            reader = await asyncio.to_thread(
                VideoReader,
                data,
                max_bytes=settings.max_video_bytes,
                max_frame_pixels=settings.max_video_frame_pixels,
                max_frames=settings.max_video_frames,
            )
            result = await score_video(engine, reader, identities, request.sample_frames)
        except MediaError as error:
            raise InvalidArgument(f"{field}: {error}", [FieldViolation(field, str(error))]) from None
        return video_response(result)


def build_spec(settings: IdentitySettings, engine: FaceEngine | None = None) -> ServiceSpec:
    """The service for the bootstrap. ``engine``: an already started engine to share (its owner stops
    it); by default the service loads its own at start-up."""
    servicer = IdentityServicer(settings, engine)
    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
            servicer, server
        ),
        method_roles=ROLES,
        start=servicer.start,
        stop=servicer.stop,
    )
