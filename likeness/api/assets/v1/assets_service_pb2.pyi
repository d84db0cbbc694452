import datetime

from likeness.api.buf.validate import validate_pb2 as _validate_pb2
from likeness.api.common.v1 import access_pb2 as _access_pb2
from likeness.api.common.v1 import faces_pb2 as _faces_pb2
from likeness.api.common.v1 import usage_pb2 as _usage_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CharacterStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHARACTER_STATUS_UNSPECIFIED: _ClassVar[CharacterStatus]
    CHARACTER_STATUS_ACTIVE: _ClassVar[CharacterStatus]
    CHARACTER_STATUS_ARCHIVED: _ClassVar[CharacterStatus]
    CHARACTER_STATUS_ERASED: _ClassVar[CharacterStatus]

class IdentityVersionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTITY_VERSION_STATUS_UNSPECIFIED: _ClassVar[IdentityVersionStatus]
    IDENTITY_VERSION_STATUS_ACTIVE: _ClassVar[IdentityVersionStatus]
    IDENTITY_VERSION_STATUS_PENDING_REVIEW: _ClassVar[IdentityVersionStatus]
    IDENTITY_VERSION_STATUS_REJECTED: _ClassVar[IdentityVersionStatus]
    IDENTITY_VERSION_STATUS_SUPERSEDED: _ClassVar[IdentityVersionStatus]
    IDENTITY_VERSION_STATUS_ERASED: _ClassVar[IdentityVersionStatus]

class ConsentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATE_UNSPECIFIED: _ClassVar[ConsentState]
    CONSENT_STATE_ACTIVE: _ClassVar[ConsentState]
    CONSENT_STATE_NOT_YET_VALID: _ClassVar[ConsentState]
    CONSENT_STATE_EXPIRED: _ClassVar[ConsentState]
    CONSENT_STATE_REVOKED: _ClassVar[ConsentState]

class ConsentDenialReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_DENIAL_REASON_UNSPECIFIED: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_CHARACTER_ERASED: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_CHARACTER_ARCHIVED: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_NO_CONSENT: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_REVOKED: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_NOT_YET_VALID: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_EXPIRED: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_PURPOSE_NOT_COVERED: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_CHANNEL_NOT_COVERED: _ClassVar[ConsentDenialReason]
    CONSENT_DENIAL_REASON_TERRITORY_NOT_COVERED: _ClassVar[ConsentDenialReason]

class AuditOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_OUTCOME_UNSPECIFIED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_SUCCEEDED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_DENIED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_FAILED: _ClassVar[AuditOutcome]

class ChainBreakKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHAIN_BREAK_KIND_UNSPECIFIED: _ClassVar[ChainBreakKind]
    CHAIN_BREAK_KIND_HASH_MISMATCH: _ClassVar[ChainBreakKind]
    CHAIN_BREAK_KIND_PREV_HASH_MISMATCH: _ClassVar[ChainBreakKind]
    CHAIN_BREAK_KIND_SEQUENCE_GAP: _ClassVar[ChainBreakKind]
    CHAIN_BREAK_KIND_TRUNCATED: _ClassVar[ChainBreakKind]
    CHAIN_BREAK_KIND_CHECKPOINT_MISMATCH: _ClassVar[ChainBreakKind]
    CHAIN_BREAK_KIND_CHECKPOINT_INVALID: _ClassVar[ChainBreakKind]

class ObjectPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECT_PURPOSE_UNSPECIFIED: _ClassVar[ObjectPurpose]
    OBJECT_PURPOSE_REFERENCE_PHOTO: _ClassVar[ObjectPurpose]
    OBJECT_PURPOSE_SYNTHETIC_REFERENCE: _ClassVar[ObjectPurpose]
    OBJECT_PURPOSE_CONSENT_EVIDENCE: _ClassVar[ObjectPurpose]
    OBJECT_PURPOSE_VIDEO: _ClassVar[ObjectPurpose]
    OBJECT_PURPOSE_GENERATED_CLIP: _ClassVar[ObjectPurpose]
    OBJECT_PURPOSE_C2PA_MANIFEST: _ClassVar[ObjectPurpose]
CHARACTER_STATUS_UNSPECIFIED: CharacterStatus
CHARACTER_STATUS_ACTIVE: CharacterStatus
CHARACTER_STATUS_ARCHIVED: CharacterStatus
CHARACTER_STATUS_ERASED: CharacterStatus
IDENTITY_VERSION_STATUS_UNSPECIFIED: IdentityVersionStatus
IDENTITY_VERSION_STATUS_ACTIVE: IdentityVersionStatus
IDENTITY_VERSION_STATUS_PENDING_REVIEW: IdentityVersionStatus
IDENTITY_VERSION_STATUS_REJECTED: IdentityVersionStatus
IDENTITY_VERSION_STATUS_SUPERSEDED: IdentityVersionStatus
IDENTITY_VERSION_STATUS_ERASED: IdentityVersionStatus
CONSENT_STATE_UNSPECIFIED: ConsentState
CONSENT_STATE_ACTIVE: ConsentState
CONSENT_STATE_NOT_YET_VALID: ConsentState
CONSENT_STATE_EXPIRED: ConsentState
CONSENT_STATE_REVOKED: ConsentState
CONSENT_DENIAL_REASON_UNSPECIFIED: ConsentDenialReason
CONSENT_DENIAL_REASON_CHARACTER_ERASED: ConsentDenialReason
CONSENT_DENIAL_REASON_CHARACTER_ARCHIVED: ConsentDenialReason
CONSENT_DENIAL_REASON_NO_CONSENT: ConsentDenialReason
CONSENT_DENIAL_REASON_REVOKED: ConsentDenialReason
CONSENT_DENIAL_REASON_NOT_YET_VALID: ConsentDenialReason
CONSENT_DENIAL_REASON_EXPIRED: ConsentDenialReason
CONSENT_DENIAL_REASON_PURPOSE_NOT_COVERED: ConsentDenialReason
CONSENT_DENIAL_REASON_CHANNEL_NOT_COVERED: ConsentDenialReason
CONSENT_DENIAL_REASON_TERRITORY_NOT_COVERED: ConsentDenialReason
AUDIT_OUTCOME_UNSPECIFIED: AuditOutcome
AUDIT_OUTCOME_SUCCEEDED: AuditOutcome
AUDIT_OUTCOME_DENIED: AuditOutcome
AUDIT_OUTCOME_FAILED: AuditOutcome
CHAIN_BREAK_KIND_UNSPECIFIED: ChainBreakKind
CHAIN_BREAK_KIND_HASH_MISMATCH: ChainBreakKind
CHAIN_BREAK_KIND_PREV_HASH_MISMATCH: ChainBreakKind
CHAIN_BREAK_KIND_SEQUENCE_GAP: ChainBreakKind
CHAIN_BREAK_KIND_TRUNCATED: ChainBreakKind
CHAIN_BREAK_KIND_CHECKPOINT_MISMATCH: ChainBreakKind
CHAIN_BREAK_KIND_CHECKPOINT_INVALID: ChainBreakKind
OBJECT_PURPOSE_UNSPECIFIED: ObjectPurpose
OBJECT_PURPOSE_REFERENCE_PHOTO: ObjectPurpose
OBJECT_PURPOSE_SYNTHETIC_REFERENCE: ObjectPurpose
OBJECT_PURPOSE_CONSENT_EVIDENCE: ObjectPurpose
OBJECT_PURPOSE_VIDEO: ObjectPurpose
OBJECT_PURPOSE_GENERATED_CLIP: ObjectPurpose
OBJECT_PURPOSE_C2PA_MANIFEST: ObjectPurpose

class Brand(_message.Message):
    __slots__ = ("brand_id", "display_name", "create_time", "created_by")
    BRAND_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    brand_id: str
    display_name: str
    create_time: _timestamp_pb2.Timestamp
    created_by: str
    def __init__(self, brand_id: _Optional[str] = ..., display_name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ...) -> None: ...

class CreateBrandRequest(_message.Message):
    __slots__ = ("brand_id", "display_name")
    BRAND_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    brand_id: str
    display_name: str
    def __init__(self, brand_id: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class CreateBrandResponse(_message.Message):
    __slots__ = ("brand",)
    BRAND_FIELD_NUMBER: _ClassVar[int]
    brand: Brand
    def __init__(self, brand: _Optional[_Union[Brand, _Mapping]] = ...) -> None: ...

class GetBrandRequest(_message.Message):
    __slots__ = ("brand_id",)
    BRAND_ID_FIELD_NUMBER: _ClassVar[int]
    brand_id: str
    def __init__(self, brand_id: _Optional[str] = ...) -> None: ...

class GetBrandResponse(_message.Message):
    __slots__ = ("brand",)
    BRAND_FIELD_NUMBER: _ClassVar[int]
    brand: Brand
    def __init__(self, brand: _Optional[_Union[Brand, _Mapping]] = ...) -> None: ...

class Character(_message.Message):
    __slots__ = ("character_id", "brand_id", "display_name", "description", "declared_attributes", "status", "current_identity_version", "etag", "create_time", "update_time", "archive_time", "erase_time", "created_by")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    BRAND_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DECLARED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    brand_id: str
    display_name: str
    description: str
    declared_attributes: DeclaredAttributes
    status: CharacterStatus
    current_identity_version: int
    etag: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    archive_time: _timestamp_pb2.Timestamp
    erase_time: _timestamp_pb2.Timestamp
    created_by: str
    def __init__(self, character_id: _Optional[str] = ..., brand_id: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., declared_attributes: _Optional[_Union[DeclaredAttributes, _Mapping]] = ..., status: _Optional[_Union[CharacterStatus, str]] = ..., current_identity_version: _Optional[int] = ..., etag: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., archive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ...) -> None: ...

class DeclaredAttributes(_message.Message):
    __slots__ = ("age_range", "gender", "tags")
    AGE_RANGE_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    age_range: AgeRange
    gender: _faces_pb2.Gender
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, age_range: _Optional[_Union[AgeRange, _Mapping]] = ..., gender: _Optional[_Union[_faces_pb2.Gender, str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AgeRange(_message.Message):
    __slots__ = ("min_years", "max_years")
    MIN_YEARS_FIELD_NUMBER: _ClassVar[int]
    MAX_YEARS_FIELD_NUMBER: _ClassVar[int]
    min_years: int
    max_years: int
    def __init__(self, min_years: _Optional[int] = ..., max_years: _Optional[int] = ...) -> None: ...

class CreateCharacterRequest(_message.Message):
    __slots__ = ("display_name", "description", "declared_attributes")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DECLARED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    description: str
    declared_attributes: DeclaredAttributes
    def __init__(self, display_name: _Optional[str] = ..., description: _Optional[str] = ..., declared_attributes: _Optional[_Union[DeclaredAttributes, _Mapping]] = ...) -> None: ...

class CreateCharacterResponse(_message.Message):
    __slots__ = ("character",)
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    character: Character
    def __init__(self, character: _Optional[_Union[Character, _Mapping]] = ...) -> None: ...

class GetCharacterRequest(_message.Message):
    __slots__ = ("character_id",)
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    def __init__(self, character_id: _Optional[str] = ...) -> None: ...

class GetCharacterResponse(_message.Message):
    __slots__ = ("character",)
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    character: Character
    def __init__(self, character: _Optional[_Union[Character, _Mapping]] = ...) -> None: ...

class ListCharactersRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: CharacterStatus
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[CharacterStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCharactersResponse(_message.Message):
    __slots__ = ("characters", "next_page_token")
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    characters: _containers.RepeatedCompositeFieldContainer[Character]
    next_page_token: str
    def __init__(self, characters: _Optional[_Iterable[_Union[Character, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCharacterRequest(_message.Message):
    __slots__ = ("character_id", "display_name", "description", "declared_attributes", "update_mask", "etag")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DECLARED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    display_name: str
    description: str
    declared_attributes: DeclaredAttributes
    update_mask: _field_mask_pb2.FieldMask
    etag: str
    def __init__(self, character_id: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., declared_attributes: _Optional[_Union[DeclaredAttributes, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class UpdateCharacterResponse(_message.Message):
    __slots__ = ("character",)
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    character: Character
    def __init__(self, character: _Optional[_Union[Character, _Mapping]] = ...) -> None: ...

class ArchiveCharacterRequest(_message.Message):
    __slots__ = ("character_id",)
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    def __init__(self, character_id: _Optional[str] = ...) -> None: ...

class ArchiveCharacterResponse(_message.Message):
    __slots__ = ("character",)
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    character: Character
    def __init__(self, character: _Optional[_Union[Character, _Mapping]] = ...) -> None: ...

class IdentityVersion(_message.Message):
    __slots__ = ("character_id", "version", "status", "z_id", "model_pack_id", "quality", "reference_photo_object_ids", "estimated_attributes", "collision_detected", "review_reason", "reviewed_by", "review_time", "created_by", "create_time", "erase_time")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    Z_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_PHOTO_OBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    COLLISION_DETECTED_FIELD_NUMBER: _ClassVar[int]
    REVIEW_REASON_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_BY_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    version: int
    status: IdentityVersionStatus
    z_id: _containers.RepeatedScalarFieldContainer[float]
    model_pack_id: str
    quality: IdentityQualityReport
    reference_photo_object_ids: _containers.RepeatedScalarFieldContainer[str]
    estimated_attributes: EstimatedAttributes
    collision_detected: bool
    review_reason: str
    reviewed_by: str
    review_time: _timestamp_pb2.Timestamp
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    erase_time: _timestamp_pb2.Timestamp
    def __init__(self, character_id: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[IdentityVersionStatus, str]] = ..., z_id: _Optional[_Iterable[float]] = ..., model_pack_id: _Optional[str] = ..., quality: _Optional[_Union[IdentityQualityReport, _Mapping]] = ..., reference_photo_object_ids: _Optional[_Iterable[str]] = ..., estimated_attributes: _Optional[_Union[EstimatedAttributes, _Mapping]] = ..., collision_detected: _Optional[bool] = ..., review_reason: _Optional[str] = ..., reviewed_by: _Optional[str] = ..., review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IdentityQualityReport(_message.Message):
    __slots__ = ("photo_reports", "consistency_score", "accepted_count", "thresholds")
    PHOTO_REPORTS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    photo_reports: _containers.RepeatedCompositeFieldContainer[PhotoQualityReport]
    consistency_score: float
    accepted_count: int
    thresholds: QualityThresholds
    def __init__(self, photo_reports: _Optional[_Iterable[_Union[PhotoQualityReport, _Mapping]]] = ..., consistency_score: _Optional[float] = ..., accepted_count: _Optional[int] = ..., thresholds: _Optional[_Union[QualityThresholds, _Mapping]] = ...) -> None: ...

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

class AddIdentityVersionRequest(_message.Message):
    __slots__ = ("character_id", "z_id", "model_pack_id", "quality", "reference_photo_object_ids", "estimated_attributes")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    Z_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_PHOTO_OBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    z_id: _containers.RepeatedScalarFieldContainer[float]
    model_pack_id: str
    quality: IdentityQualityReport
    reference_photo_object_ids: _containers.RepeatedScalarFieldContainer[str]
    estimated_attributes: EstimatedAttributes
    def __init__(self, character_id: _Optional[str] = ..., z_id: _Optional[_Iterable[float]] = ..., model_pack_id: _Optional[str] = ..., quality: _Optional[_Union[IdentityQualityReport, _Mapping]] = ..., reference_photo_object_ids: _Optional[_Iterable[str]] = ..., estimated_attributes: _Optional[_Union[EstimatedAttributes, _Mapping]] = ...) -> None: ...

class AddIdentityVersionResponse(_message.Message):
    __slots__ = ("identity_version",)
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    identity_version: IdentityVersion
    def __init__(self, identity_version: _Optional[_Union[IdentityVersion, _Mapping]] = ...) -> None: ...

class GetIdentityRequest(_message.Message):
    __slots__ = ("character_id", "version", "access_reason")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_REASON_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    version: int
    access_reason: str
    def __init__(self, character_id: _Optional[str] = ..., version: _Optional[int] = ..., access_reason: _Optional[str] = ...) -> None: ...

class GetIdentityResponse(_message.Message):
    __slots__ = ("identity_version",)
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    identity_version: IdentityVersion
    def __init__(self, identity_version: _Optional[_Union[IdentityVersion, _Mapping]] = ...) -> None: ...

class ListIdentityVersionsRequest(_message.Message):
    __slots__ = ("character_id", "page_size", "page_token")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    page_size: int
    page_token: str
    def __init__(self, character_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIdentityVersionsResponse(_message.Message):
    __slots__ = ("identity_versions", "next_page_token")
    IDENTITY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    identity_versions: _containers.RepeatedCompositeFieldContainer[IdentityVersion]
    next_page_token: str
    def __init__(self, identity_versions: _Optional[_Iterable[_Union[IdentityVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetIdentityVersionStatusRequest(_message.Message):
    __slots__ = ("character_id", "version", "status", "reason")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    version: int
    status: IdentityVersionStatus
    reason: str
    def __init__(self, character_id: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[IdentityVersionStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SetIdentityVersionStatusResponse(_message.Message):
    __slots__ = ("identity_version",)
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    identity_version: IdentityVersion
    def __init__(self, identity_version: _Optional[_Union[IdentityVersion, _Mapping]] = ...) -> None: ...

class ConsentRecord(_message.Message):
    __slots__ = ("consent_id", "character_id", "subject_name", "purposes", "channels", "territories", "valid_from", "valid_until", "evidence_object_id", "evidence_sha256", "notes", "state", "recorded_by", "create_time", "revoke_time", "revoked_by", "revoke_reason")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    TERRITORIES_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    character_id: str
    subject_name: str
    purposes: _containers.RepeatedScalarFieldContainer[_usage_pb2.UsagePurpose]
    channels: _containers.RepeatedScalarFieldContainer[_usage_pb2.UsageChannel]
    territories: _containers.RepeatedScalarFieldContainer[str]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    evidence_object_id: str
    evidence_sha256: str
    notes: str
    state: ConsentState
    recorded_by: str
    create_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    revoked_by: str
    revoke_reason: str
    def __init__(self, consent_id: _Optional[str] = ..., character_id: _Optional[str] = ..., subject_name: _Optional[str] = ..., purposes: _Optional[_Iterable[_Union[_usage_pb2.UsagePurpose, str]]] = ..., channels: _Optional[_Iterable[_Union[_usage_pb2.UsageChannel, str]]] = ..., territories: _Optional[_Iterable[str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence_object_id: _Optional[str] = ..., evidence_sha256: _Optional[str] = ..., notes: _Optional[str] = ..., state: _Optional[_Union[ConsentState, str]] = ..., recorded_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_by: _Optional[str] = ..., revoke_reason: _Optional[str] = ...) -> None: ...

class RecordConsentRequest(_message.Message):
    __slots__ = ("character_id", "subject_name", "purposes", "channels", "territories", "valid_from", "valid_until", "evidence_object_id", "evidence_sha256", "notes")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    TERRITORIES_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    subject_name: str
    purposes: _containers.RepeatedScalarFieldContainer[_usage_pb2.UsagePurpose]
    channels: _containers.RepeatedScalarFieldContainer[_usage_pb2.UsageChannel]
    territories: _containers.RepeatedScalarFieldContainer[str]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    evidence_object_id: str
    evidence_sha256: str
    notes: str
    def __init__(self, character_id: _Optional[str] = ..., subject_name: _Optional[str] = ..., purposes: _Optional[_Iterable[_Union[_usage_pb2.UsagePurpose, str]]] = ..., channels: _Optional[_Iterable[_Union[_usage_pb2.UsageChannel, str]]] = ..., territories: _Optional[_Iterable[str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence_object_id: _Optional[str] = ..., evidence_sha256: _Optional[str] = ..., notes: _Optional[str] = ...) -> None: ...

class RecordConsentResponse(_message.Message):
    __slots__ = ("consent",)
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    consent: ConsentRecord
    def __init__(self, consent: _Optional[_Union[ConsentRecord, _Mapping]] = ...) -> None: ...

class RevokeConsentRequest(_message.Message):
    __slots__ = ("consent_id", "reason")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    reason: str
    def __init__(self, consent_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeConsentResponse(_message.Message):
    __slots__ = ("consent",)
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    consent: ConsentRecord
    def __init__(self, consent: _Optional[_Union[ConsentRecord, _Mapping]] = ...) -> None: ...

class GetConsentRequest(_message.Message):
    __slots__ = ("consent_id",)
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    def __init__(self, consent_id: _Optional[str] = ...) -> None: ...

class GetConsentResponse(_message.Message):
    __slots__ = ("consent",)
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    consent: ConsentRecord
    def __init__(self, consent: _Optional[_Union[ConsentRecord, _Mapping]] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("character_id", "page_size", "page_token")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    page_size: int
    page_token: str
    def __init__(self, character_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents", "next_page_token")
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    next_page_token: str
    def __init__(self, consents: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CheckConsentRequest(_message.Message):
    __slots__ = ("character_id", "purpose", "channel", "territory", "at")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    purpose: _usage_pb2.UsagePurpose
    channel: _usage_pb2.UsageChannel
    territory: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, character_id: _Optional[str] = ..., purpose: _Optional[_Union[_usage_pb2.UsagePurpose, str]] = ..., channel: _Optional[_Union[_usage_pb2.UsageChannel, str]] = ..., territory: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckConsentResponse(_message.Message):
    __slots__ = ("allowed", "consent_id", "denial_reason", "message", "checked_time")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    DENIAL_REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHECKED_TIME_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    consent_id: str
    denial_reason: ConsentDenialReason
    message: str
    checked_time: _timestamp_pb2.Timestamp
    def __init__(self, allowed: _Optional[bool] = ..., consent_id: _Optional[str] = ..., denial_reason: _Optional[_Union[ConsentDenialReason, str]] = ..., message: _Optional[str] = ..., checked_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("sequence", "event_id", "event_time", "actor_subject", "actor_roles", "action", "target_type", "target_id", "request_id", "outcome", "details", "prev_hash", "hash")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLES_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    event_id: str
    event_time: _timestamp_pb2.Timestamp
    actor_subject: str
    actor_roles: _containers.RepeatedScalarFieldContainer[str]
    action: str
    target_type: str
    target_id: str
    request_id: str
    outcome: AuditOutcome
    details: _struct_pb2.Struct
    prev_hash: str
    hash: str
    def __init__(self, sequence: _Optional[int] = ..., event_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_subject: _Optional[str] = ..., actor_roles: _Optional[_Iterable[str]] = ..., action: _Optional[str] = ..., target_type: _Optional[str] = ..., target_id: _Optional[str] = ..., request_id: _Optional[str] = ..., outcome: _Optional[_Union[AuditOutcome, str]] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("target_type", "target_id", "action", "actor_subject", "start_time", "end_time", "page_size", "page_token")
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    target_type: str
    target_id: str
    action: str
    actor_subject: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, target_type: _Optional[str] = ..., target_id: _Optional[str] = ..., action: _Optional[str] = ..., actor_subject: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyAuditChainRequest(_message.Message):
    __slots__ = ("from_sequence", "to_sequence")
    FROM_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TO_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    from_sequence: int
    to_sequence: int
    def __init__(self, from_sequence: _Optional[int] = ..., to_sequence: _Optional[int] = ...) -> None: ...

class VerifyAuditChainResponse(_message.Message):
    __slots__ = ("ok", "events_checked", "first_sequence", "last_sequence", "last_hash", "first_broken_link", "checkpoint_sequence")
    OK_FIELD_NUMBER: _ClassVar[int]
    EVENTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_HASH_FIELD_NUMBER: _ClassVar[int]
    FIRST_BROKEN_LINK_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    events_checked: int
    first_sequence: int
    last_sequence: int
    last_hash: str
    first_broken_link: ChainBreak
    checkpoint_sequence: int
    def __init__(self, ok: _Optional[bool] = ..., events_checked: _Optional[int] = ..., first_sequence: _Optional[int] = ..., last_sequence: _Optional[int] = ..., last_hash: _Optional[str] = ..., first_broken_link: _Optional[_Union[ChainBreak, _Mapping]] = ..., checkpoint_sequence: _Optional[int] = ...) -> None: ...

class ChainBreak(_message.Message):
    __slots__ = ("sequence", "event_id", "kind", "expected_hash", "found_hash")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_HASH_FIELD_NUMBER: _ClassVar[int]
    FOUND_HASH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    event_id: str
    kind: ChainBreakKind
    expected_hash: str
    found_hash: str
    def __init__(self, sequence: _Optional[int] = ..., event_id: _Optional[str] = ..., kind: _Optional[_Union[ChainBreakKind, str]] = ..., expected_hash: _Optional[str] = ..., found_hash: _Optional[str] = ...) -> None: ...

class ObjectInfo(_message.Message):
    __slots__ = ("object_id", "purpose", "content_type", "size_bytes", "sha256", "filename_hint", "created_by", "create_time")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FILENAME_HINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    purpose: ObjectPurpose
    content_type: str
    size_bytes: int
    sha256: str
    filename_hint: str
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, object_id: _Optional[str] = ..., purpose: _Optional[_Union[ObjectPurpose, str]] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., filename_hint: _Optional[str] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadObjectRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadObjectHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadObjectHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadObjectHeader(_message.Message):
    __slots__ = ("purpose", "filename_hint", "declared_content_type", "declared_size_bytes")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_HINT_FIELD_NUMBER: _ClassVar[int]
    DECLARED_CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DECLARED_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    purpose: ObjectPurpose
    filename_hint: str
    declared_content_type: str
    declared_size_bytes: int
    def __init__(self, purpose: _Optional[_Union[ObjectPurpose, str]] = ..., filename_hint: _Optional[str] = ..., declared_content_type: _Optional[str] = ..., declared_size_bytes: _Optional[int] = ...) -> None: ...

class UploadObjectResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ObjectInfo
    def __init__(self, info: _Optional[_Union[ObjectInfo, _Mapping]] = ...) -> None: ...

class DownloadObjectRequest(_message.Message):
    __slots__ = ("object_id",)
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    def __init__(self, object_id: _Optional[str] = ...) -> None: ...

class DownloadObjectResponse(_message.Message):
    __slots__ = ("info", "chunk")
    INFO_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    info: ObjectInfo
    chunk: bytes
    def __init__(self, info: _Optional[_Union[ObjectInfo, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class GetObjectUrlRequest(_message.Message):
    __slots__ = ("object_id", "expires_in")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    expires_in: _duration_pb2.Duration
    def __init__(self, object_id: _Optional[str] = ..., expires_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetObjectUrlResponse(_message.Message):
    __slots__ = ("url", "expire_time", "info")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    url: str
    expire_time: _timestamp_pb2.Timestamp
    info: ObjectInfo
    def __init__(self, url: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., info: _Optional[_Union[ObjectInfo, _Mapping]] = ...) -> None: ...

class GetObjectInfoRequest(_message.Message):
    __slots__ = ("object_id",)
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    def __init__(self, object_id: _Optional[str] = ...) -> None: ...

class GetObjectInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ObjectInfo
    def __init__(self, info: _Optional[_Union[ObjectInfo, _Mapping]] = ...) -> None: ...

class SearchLikenessRequest(_message.Message):
    __slots__ = ("z_id", "model_pack_id", "top_k", "min_similarity")
    Z_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    z_id: _containers.RepeatedScalarFieldContainer[float]
    model_pack_id: str
    top_k: int
    min_similarity: float
    def __init__(self, z_id: _Optional[_Iterable[float]] = ..., model_pack_id: _Optional[str] = ..., top_k: _Optional[int] = ..., min_similarity: _Optional[float] = ...) -> None: ...

class SearchLikenessResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[LikenessMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[LikenessMatch, _Mapping]]] = ...) -> None: ...

class LikenessMatch(_message.Message):
    __slots__ = ("character_id", "identity_version", "display_name", "character_status", "similarity")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CHARACTER_STATUS_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    identity_version: int
    display_name: str
    character_status: CharacterStatus
    similarity: float
    def __init__(self, character_id: _Optional[str] = ..., identity_version: _Optional[int] = ..., display_name: _Optional[str] = ..., character_status: _Optional[_Union[CharacterStatus, str]] = ..., similarity: _Optional[float] = ...) -> None: ...

class GeneratedAsset(_message.Message):
    __slots__ = ("generated_asset_id", "job_id", "clip_object_id", "shots", "characters", "purpose", "channel", "territory", "flagged", "flag_reasons", "provenance_manifest_sha256", "c2pa_manifest_object_id", "model", "scoring_model_pack_id", "recorded_by", "create_time", "erase_time")
    GENERATED_ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CLIP_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    FLAG_REASONS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_MANIFEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    C2PA_MANIFEST_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SCORING_MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    generated_asset_id: str
    job_id: str
    clip_object_id: str
    shots: _containers.RepeatedCompositeFieldContainer[GeneratedShot]
    characters: _containers.RepeatedCompositeFieldContainer[CharacterUsage]
    purpose: _usage_pb2.UsagePurpose
    channel: _usage_pb2.UsageChannel
    territory: str
    flagged: bool
    flag_reasons: _containers.RepeatedScalarFieldContainer[str]
    provenance_manifest_sha256: str
    c2pa_manifest_object_id: str
    model: ModelDescription
    scoring_model_pack_id: str
    recorded_by: str
    create_time: _timestamp_pb2.Timestamp
    erase_time: _timestamp_pb2.Timestamp
    def __init__(self, generated_asset_id: _Optional[str] = ..., job_id: _Optional[str] = ..., clip_object_id: _Optional[str] = ..., shots: _Optional[_Iterable[_Union[GeneratedShot, _Mapping]]] = ..., characters: _Optional[_Iterable[_Union[CharacterUsage, _Mapping]]] = ..., purpose: _Optional[_Union[_usage_pb2.UsagePurpose, str]] = ..., channel: _Optional[_Union[_usage_pb2.UsageChannel, str]] = ..., territory: _Optional[str] = ..., flagged: _Optional[bool] = ..., flag_reasons: _Optional[_Iterable[str]] = ..., provenance_manifest_sha256: _Optional[str] = ..., c2pa_manifest_object_id: _Optional[str] = ..., model: _Optional[_Union[ModelDescription, _Mapping]] = ..., scoring_model_pack_id: _Optional[str] = ..., recorded_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GeneratedShot(_message.Message):
    __slots__ = ("shot_index", "prompt", "negative_prompt", "seed")
    SHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    shot_index: int
    prompt: str
    negative_prompt: str
    seed: int
    def __init__(self, shot_index: _Optional[int] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class CharacterUsage(_message.Message):
    __slots__ = ("character_id", "identity_version", "consent_id", "identity_score")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    identity_version: int
    consent_id: str
    identity_score: IdentityScore
    def __init__(self, character_id: _Optional[str] = ..., identity_version: _Optional[int] = ..., consent_id: _Optional[str] = ..., identity_score: _Optional[_Union[IdentityScore, _Mapping]] = ...) -> None: ...

class IdentityScore(_message.Message):
    __slots__ = ("mean_similarity", "min_similarity", "p10_similarity", "no_face_fraction")
    MEAN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    P10_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    NO_FACE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    mean_similarity: float
    min_similarity: float
    p10_similarity: float
    no_face_fraction: float
    def __init__(self, mean_similarity: _Optional[float] = ..., min_similarity: _Optional[float] = ..., p10_similarity: _Optional[float] = ..., no_face_fraction: _Optional[float] = ...) -> None: ...

class ModelDescription(_message.Message):
    __slots__ = ("model_id", "adapter_id", "random_weights")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_ID_FIELD_NUMBER: _ClassVar[int]
    RANDOM_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    adapter_id: str
    random_weights: bool
    def __init__(self, model_id: _Optional[str] = ..., adapter_id: _Optional[str] = ..., random_weights: _Optional[bool] = ...) -> None: ...

class RecordGeneratedAssetRequest(_message.Message):
    __slots__ = ("clip_object_id", "job_id", "shots", "characters", "purpose", "channel", "territory", "flagged", "flag_reasons", "provenance_manifest_sha256", "c2pa_manifest_object_id", "model", "scoring_model_pack_id")
    CLIP_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    FLAG_REASONS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_MANIFEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    C2PA_MANIFEST_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SCORING_MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    clip_object_id: str
    job_id: str
    shots: _containers.RepeatedCompositeFieldContainer[GeneratedShot]
    characters: _containers.RepeatedCompositeFieldContainer[CharacterUsage]
    purpose: _usage_pb2.UsagePurpose
    channel: _usage_pb2.UsageChannel
    territory: str
    flagged: bool
    flag_reasons: _containers.RepeatedScalarFieldContainer[str]
    provenance_manifest_sha256: str
    c2pa_manifest_object_id: str
    model: ModelDescription
    scoring_model_pack_id: str
    def __init__(self, clip_object_id: _Optional[str] = ..., job_id: _Optional[str] = ..., shots: _Optional[_Iterable[_Union[GeneratedShot, _Mapping]]] = ..., characters: _Optional[_Iterable[_Union[CharacterUsage, _Mapping]]] = ..., purpose: _Optional[_Union[_usage_pb2.UsagePurpose, str]] = ..., channel: _Optional[_Union[_usage_pb2.UsageChannel, str]] = ..., territory: _Optional[str] = ..., flagged: _Optional[bool] = ..., flag_reasons: _Optional[_Iterable[str]] = ..., provenance_manifest_sha256: _Optional[str] = ..., c2pa_manifest_object_id: _Optional[str] = ..., model: _Optional[_Union[ModelDescription, _Mapping]] = ..., scoring_model_pack_id: _Optional[str] = ...) -> None: ...

class RecordGeneratedAssetResponse(_message.Message):
    __slots__ = ("generated_asset",)
    GENERATED_ASSET_FIELD_NUMBER: _ClassVar[int]
    generated_asset: GeneratedAsset
    def __init__(self, generated_asset: _Optional[_Union[GeneratedAsset, _Mapping]] = ...) -> None: ...

class GetGeneratedAssetRequest(_message.Message):
    __slots__ = ("generated_asset_id",)
    GENERATED_ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    generated_asset_id: str
    def __init__(self, generated_asset_id: _Optional[str] = ...) -> None: ...

class GetGeneratedAssetResponse(_message.Message):
    __slots__ = ("generated_asset",)
    GENERATED_ASSET_FIELD_NUMBER: _ClassVar[int]
    generated_asset: GeneratedAsset
    def __init__(self, generated_asset: _Optional[_Union[GeneratedAsset, _Mapping]] = ...) -> None: ...

class ListGeneratedAssetsRequest(_message.Message):
    __slots__ = ("character_id", "job_id", "page_size", "page_token")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    job_id: str
    page_size: int
    page_token: str
    def __init__(self, character_id: _Optional[str] = ..., job_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGeneratedAssetsResponse(_message.Message):
    __slots__ = ("generated_assets", "next_page_token")
    GENERATED_ASSETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    generated_assets: _containers.RepeatedCompositeFieldContainer[GeneratedAsset]
    next_page_token: str
    def __init__(self, generated_assets: _Optional[_Iterable[_Union[GeneratedAsset, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EraseCharacterRequest(_message.Message):
    __slots__ = ("character_id", "reason")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    reason: str
    def __init__(self, character_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseCharacterResponse(_message.Message):
    __slots__ = ("character_id", "erase_time", "embeddings_deleted", "objects_deleted", "generated_assets_erased", "audit_event_id", "already_erased")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_DELETED_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    GENERATED_ASSETS_ERASED_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ERASED_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    erase_time: _timestamp_pb2.Timestamp
    embeddings_deleted: int
    objects_deleted: int
    generated_assets_erased: int
    audit_event_id: str
    already_erased: bool
    def __init__(self, character_id: _Optional[str] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., embeddings_deleted: _Optional[int] = ..., objects_deleted: _Optional[int] = ..., generated_assets_erased: _Optional[int] = ..., audit_event_id: _Optional[str] = ..., already_erased: _Optional[bool] = ...) -> None: ...
