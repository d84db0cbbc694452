import datetime

from likeness.api.buf.validate import validate_pb2 as _validate_pb2
from likeness.api.common.v1 import access_pb2 as _access_pb2
from likeness.api.common.v1 import faces_pb2 as _faces_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EncodeIdentityRequest(_message.Message):
    __slots__ = ("reference_photos", "options")
    REFERENCE_PHOTOS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    reference_photos: _containers.RepeatedCompositeFieldContainer[ReferencePhoto]
    options: EncodeOptions
    def __init__(self, reference_photos: _Optional[_Iterable[_Union[ReferencePhoto, _Mapping]]] = ..., options: _Optional[_Union[EncodeOptions, _Mapping]] = ...) -> None: ...

class ReferencePhoto(_message.Message):
    __slots__ = ("image", "object_id", "label")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    object_id: str
    label: str
    def __init__(self, image: _Optional[bytes] = ..., object_id: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class EncodeOptions(_message.Message):
    __slots__ = ("outlier_similarity_threshold", "min_face_size_px")
    OUTLIER_SIMILARITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_FACE_SIZE_PX_FIELD_NUMBER: _ClassVar[int]
    outlier_similarity_threshold: float
    min_face_size_px: int
    def __init__(self, outlier_similarity_threshold: _Optional[float] = ..., min_face_size_px: _Optional[int] = ...) -> None: ...

class EncodeIdentityResponse(_message.Message):
    __slots__ = ("z_id", "model_pack_id", "photo_reports", "consistency_score", "accepted_count", "estimated_attributes", "thresholds")
    Z_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_REPORTS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    z_id: _containers.RepeatedScalarFieldContainer[float]
    model_pack_id: str
    photo_reports: _containers.RepeatedCompositeFieldContainer[PhotoQualityReport]
    consistency_score: float
    accepted_count: int
    estimated_attributes: EstimatedAttributes
    thresholds: QualityThresholds
    def __init__(self, z_id: _Optional[_Iterable[float]] = ..., model_pack_id: _Optional[str] = ..., photo_reports: _Optional[_Iterable[_Union[PhotoQualityReport, _Mapping]]] = ..., consistency_score: _Optional[float] = ..., accepted_count: _Optional[int] = ..., estimated_attributes: _Optional[_Union[EstimatedAttributes, _Mapping]] = ..., thresholds: _Optional[_Union[QualityThresholds, _Mapping]] = ...) -> None: ...

class PhotoQualityReport(_message.Message):
    __slots__ = ("index", "label", "accepted", "rejection_reason", "rejection_message", "image_width_px", "image_height_px", "face_count", "face_box", "face_size_px", "detector_score", "blur_variance", "exposure", "head_pose", "mean_similarity_to_others", "similarity_to_aggregate")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    REJECTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_PX_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_PX_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FACE_BOX_FIELD_NUMBER: _ClassVar[int]
    FACE_SIZE_PX_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    BLUR_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    HEAD_POSE_FIELD_NUMBER: _ClassVar[int]
    MEAN_SIMILARITY_TO_OTHERS_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_TO_AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    index: int
    label: str
    accepted: bool
    rejection_reason: _faces_pb2.PhotoRejectionReason
    rejection_message: str
    image_width_px: int
    image_height_px: int
    face_count: int
    face_box: FaceBox
    face_size_px: int
    detector_score: float
    blur_variance: float
    exposure: Exposure
    head_pose: HeadPose
    mean_similarity_to_others: float
    similarity_to_aggregate: float
    def __init__(self, index: _Optional[int] = ..., label: _Optional[str] = ..., accepted: _Optional[bool] = ..., rejection_reason: _Optional[_Union[_faces_pb2.PhotoRejectionReason, str]] = ..., rejection_message: _Optional[str] = ..., image_width_px: _Optional[int] = ..., image_height_px: _Optional[int] = ..., face_count: _Optional[int] = ..., face_box: _Optional[_Union[FaceBox, _Mapping]] = ..., face_size_px: _Optional[int] = ..., detector_score: _Optional[float] = ..., blur_variance: _Optional[float] = ..., exposure: _Optional[_Union[Exposure, _Mapping]] = ..., head_pose: _Optional[_Union[HeadPose, _Mapping]] = ..., mean_similarity_to_others: _Optional[float] = ..., similarity_to_aggregate: _Optional[float] = ...) -> None: ...

class FaceBox(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Exposure(_message.Message):
    __slots__ = ("mean_luminance", "dark_clipped_fraction", "bright_clipped_fraction")
    MEAN_LUMINANCE_FIELD_NUMBER: _ClassVar[int]
    DARK_CLIPPED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    BRIGHT_CLIPPED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    mean_luminance: float
    dark_clipped_fraction: float
    bright_clipped_fraction: float
    def __init__(self, mean_luminance: _Optional[float] = ..., dark_clipped_fraction: _Optional[float] = ..., bright_clipped_fraction: _Optional[float] = ...) -> None: ...

class HeadPose(_message.Message):
    __slots__ = ("yaw_degrees", "pitch_degrees", "roll_degrees")
    YAW_DEGREES_FIELD_NUMBER: _ClassVar[int]
    PITCH_DEGREES_FIELD_NUMBER: _ClassVar[int]
    ROLL_DEGREES_FIELD_NUMBER: _ClassVar[int]
    yaw_degrees: float
    pitch_degrees: float
    roll_degrees: float
    def __init__(self, yaw_degrees: _Optional[float] = ..., pitch_degrees: _Optional[float] = ..., roll_degrees: _Optional[float] = ...) -> None: ...

class QualityThresholds(_message.Message):
    __slots__ = ("min_face_size_px", "min_detector_score", "min_blur_variance", "min_mean_luminance", "max_mean_luminance", "max_clipped_fraction", "max_abs_yaw_degrees", "max_abs_pitch_degrees", "outlier_similarity_threshold")
    MIN_FACE_SIZE_PX_FIELD_NUMBER: _ClassVar[int]
    MIN_DETECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    MIN_BLUR_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    MIN_MEAN_LUMINANCE_FIELD_NUMBER: _ClassVar[int]
    MAX_MEAN_LUMINANCE_FIELD_NUMBER: _ClassVar[int]
    MAX_CLIPPED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_YAW_DEGREES_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_PITCH_DEGREES_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_SIMILARITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    min_face_size_px: int
    min_detector_score: float
    min_blur_variance: float
    min_mean_luminance: float
    max_mean_luminance: float
    max_clipped_fraction: float
    max_abs_yaw_degrees: float
    max_abs_pitch_degrees: float
    outlier_similarity_threshold: float
    def __init__(self, min_face_size_px: _Optional[int] = ..., min_detector_score: _Optional[float] = ..., min_blur_variance: _Optional[float] = ..., min_mean_luminance: _Optional[float] = ..., max_mean_luminance: _Optional[float] = ..., max_clipped_fraction: _Optional[float] = ..., max_abs_yaw_degrees: _Optional[float] = ..., max_abs_pitch_degrees: _Optional[float] = ..., outlier_similarity_threshold: _Optional[float] = ...) -> None: ...

class EstimatedAttributes(_message.Message):
    __slots__ = ("age", "gender")
    AGE_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    age: AgeEstimate
    gender: GenderEstimate
    def __init__(self, age: _Optional[_Union[AgeEstimate, _Mapping]] = ..., gender: _Optional[_Union[GenderEstimate, _Mapping]] = ...) -> None: ...

class AgeEstimate(_message.Message):
    __slots__ = ("years", "low_years", "high_years", "confidence")
    YEARS_FIELD_NUMBER: _ClassVar[int]
    LOW_YEARS_FIELD_NUMBER: _ClassVar[int]
    HIGH_YEARS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    years: float
    low_years: float
    high_years: float
    confidence: float
    def __init__(self, years: _Optional[float] = ..., low_years: _Optional[float] = ..., high_years: _Optional[float] = ..., confidence: _Optional[float] = ...) -> None: ...

class GenderEstimate(_message.Message):
    __slots__ = ("value", "confidence")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    value: _faces_pb2.Gender
    confidence: float
    def __init__(self, value: _Optional[_Union[_faces_pb2.Gender, str]] = ..., confidence: _Optional[float] = ...) -> None: ...

class CompareIdentitiesRequest(_message.Message):
    __slots__ = ("first_z_id", "second_z_id", "model_pack_id")
    FIRST_Z_ID_FIELD_NUMBER: _ClassVar[int]
    SECOND_Z_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    first_z_id: _containers.RepeatedScalarFieldContainer[float]
    second_z_id: _containers.RepeatedScalarFieldContainer[float]
    model_pack_id: str
    def __init__(self, first_z_id: _Optional[_Iterable[float]] = ..., second_z_id: _Optional[_Iterable[float]] = ..., model_pack_id: _Optional[str] = ...) -> None: ...

class CompareIdentitiesResponse(_message.Message):
    __slots__ = ("cosine_similarity", "same_person", "threshold", "model_pack_id")
    COSINE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    SAME_PERSON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    cosine_similarity: float
    same_person: bool
    threshold: float
    model_pack_id: str
    def __init__(self, cosine_similarity: _Optional[float] = ..., same_person: _Optional[bool] = ..., threshold: _Optional[float] = ..., model_pack_id: _Optional[str] = ...) -> None: ...

class ScoreVideoRequest(_message.Message):
    __slots__ = ("video_bytes", "video_object_id", "identities", "sample_frames", "model_pack_id")
    VIDEO_BYTES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    video_bytes: bytes
    video_object_id: str
    identities: _containers.RepeatedCompositeFieldContainer[IdentityToScore]
    sample_frames: int
    model_pack_id: str
    def __init__(self, video_bytes: _Optional[bytes] = ..., video_object_id: _Optional[str] = ..., identities: _Optional[_Iterable[_Union[IdentityToScore, _Mapping]]] = ..., sample_frames: _Optional[int] = ..., model_pack_id: _Optional[str] = ...) -> None: ...

class IdentityToScore(_message.Message):
    __slots__ = ("label", "z_id")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    Z_ID_FIELD_NUMBER: _ClassVar[int]
    label: str
    z_id: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, label: _Optional[str] = ..., z_id: _Optional[_Iterable[float]] = ...) -> None: ...

class ScoreVideoResponse(_message.Message):
    __slots__ = ("identity_scores", "frames_sampled", "video", "model_pack_id")
    IDENTITY_SCORES_FIELD_NUMBER: _ClassVar[int]
    FRAMES_SAMPLED_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    identity_scores: _containers.RepeatedCompositeFieldContainer[IdentityVideoScore]
    frames_sampled: int
    video: VideoInfo
    model_pack_id: str
    def __init__(self, identity_scores: _Optional[_Iterable[_Union[IdentityVideoScore, _Mapping]]] = ..., frames_sampled: _Optional[int] = ..., video: _Optional[_Union[VideoInfo, _Mapping]] = ..., model_pack_id: _Optional[str] = ...) -> None: ...

class VideoInfo(_message.Message):
    __slots__ = ("duration", "fps", "frame_count", "width_px", "height_px")
    DURATION_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_PX_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_PX_FIELD_NUMBER: _ClassVar[int]
    duration: _duration_pb2.Duration
    fps: float
    frame_count: int
    width_px: int
    height_px: int
    def __init__(self, duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., fps: _Optional[float] = ..., frame_count: _Optional[int] = ..., width_px: _Optional[int] = ..., height_px: _Optional[int] = ...) -> None: ...

class IdentityVideoScore(_message.Message):
    __slots__ = ("label", "frames", "mean_similarity", "min_similarity", "p10_similarity", "p50_similarity", "p90_similarity", "adjacent_frame_consistency", "no_face_fraction")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    MEAN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    P10_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    P50_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    P90_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    ADJACENT_FRAME_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    NO_FACE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    label: str
    frames: _containers.RepeatedCompositeFieldContainer[FrameSimilarity]
    mean_similarity: float
    min_similarity: float
    p10_similarity: float
    p50_similarity: float
    p90_similarity: float
    adjacent_frame_consistency: float
    no_face_fraction: float
    def __init__(self, label: _Optional[str] = ..., frames: _Optional[_Iterable[_Union[FrameSimilarity, _Mapping]]] = ..., mean_similarity: _Optional[float] = ..., min_similarity: _Optional[float] = ..., p10_similarity: _Optional[float] = ..., p50_similarity: _Optional[float] = ..., p90_similarity: _Optional[float] = ..., adjacent_frame_consistency: _Optional[float] = ..., no_face_fraction: _Optional[float] = ...) -> None: ...

class FrameSimilarity(_message.Message):
    __slots__ = ("frame_index", "timestamp", "face_found", "similarity")
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    FACE_FOUND_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    frame_index: int
    timestamp: _duration_pb2.Duration
    face_found: bool
    similarity: float
    def __init__(self, frame_index: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., face_found: _Optional[bool] = ..., similarity: _Optional[float] = ...) -> None: ...
