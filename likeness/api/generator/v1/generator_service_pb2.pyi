import datetime

from likeness.api.buf.validate import validate_pb2 as _validate_pb2
from likeness.api.common.v1 import access_pb2 as _access_pb2
from likeness.api.common.v1 import usage_pb2 as _usage_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Resolution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOLUTION_UNSPECIFIED: _ClassVar[Resolution]
    RESOLUTION_480P: _ClassVar[Resolution]
    RESOLUTION_720P: _ClassVar[Resolution]

class Transition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSITION_UNSPECIFIED: _ClassVar[Transition]
    TRANSITION_CUT: _ClassVar[Transition]
    TRANSITION_CROSSFADE: _ClassVar[Transition]

class SpeedPreset(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEED_PRESET_UNSPECIFIED: _ClassVar[SpeedPreset]
    SPEED_PRESET_FINAL: _ClassVar[SpeedPreset]
    SPEED_PRESET_DRAFT: _ClassVar[SpeedPreset]
    SPEED_PRESET_FAST: _ClassVar[SpeedPreset]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_CHECKING: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SCORING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class JobPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_PHASE_UNSPECIFIED: _ClassVar[JobPhase]
    JOB_PHASE_DENOISING: _ClassVar[JobPhase]
    JOB_PHASE_DECODING: _ClassVar[JobPhase]
    JOB_PHASE_SIGNING: _ClassVar[JobPhase]
    JOB_PHASE_SCORING: _ClassVar[JobPhase]
    JOB_PHASE_STITCHING: _ClassVar[JobPhase]

class JobWarningKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_WARNING_KIND_UNSPECIFIED: _ClassVar[JobWarningKind]
    JOB_WARNING_KIND_ATTRIBUTE_CONTRADICTION: _ClassVar[JobWarningKind]
    JOB_WARNING_KIND_SHOT_FLAGGED: _ClassVar[JobWarningKind]
    JOB_WARNING_KIND_RANDOM_WEIGHTS: _ClassVar[JobWarningKind]

class JobErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_ERROR_CODE_UNSPECIFIED: _ClassVar[JobErrorCode]
    JOB_ERROR_CODE_CONSENT_DENIED: _ClassVar[JobErrorCode]
    JOB_ERROR_CODE_CHARACTER_UNAVAILABLE: _ClassVar[JobErrorCode]
    JOB_ERROR_CODE_ATTRIBUTE_CONTRADICTION: _ClassVar[JobErrorCode]
    JOB_ERROR_CODE_GENERATION_FAILED: _ClassVar[JobErrorCode]
    JOB_ERROR_CODE_SCORING_FAILED: _ClassVar[JobErrorCode]
    JOB_ERROR_CODE_STORAGE_FAILED: _ClassVar[JobErrorCode]
    JOB_ERROR_CODE_INTERNAL: _ClassVar[JobErrorCode]

class JobEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_EVENT_TYPE_UNSPECIFIED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_STATE_CHANGED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_PROGRESS: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_SHOT_STARTED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_SHOT_FINISHED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_WARNING: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_LOG: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_PHASE_CHANGED: _ClassVar[JobEventType]
RESOLUTION_UNSPECIFIED: Resolution
RESOLUTION_480P: Resolution
RESOLUTION_720P: Resolution
TRANSITION_UNSPECIFIED: Transition
TRANSITION_CUT: Transition
TRANSITION_CROSSFADE: Transition
SPEED_PRESET_UNSPECIFIED: SpeedPreset
SPEED_PRESET_FINAL: SpeedPreset
SPEED_PRESET_DRAFT: SpeedPreset
SPEED_PRESET_FAST: SpeedPreset
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_CHECKING: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SCORING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_PHASE_UNSPECIFIED: JobPhase
JOB_PHASE_DENOISING: JobPhase
JOB_PHASE_DECODING: JobPhase
JOB_PHASE_SIGNING: JobPhase
JOB_PHASE_SCORING: JobPhase
JOB_PHASE_STITCHING: JobPhase
JOB_WARNING_KIND_UNSPECIFIED: JobWarningKind
JOB_WARNING_KIND_ATTRIBUTE_CONTRADICTION: JobWarningKind
JOB_WARNING_KIND_SHOT_FLAGGED: JobWarningKind
JOB_WARNING_KIND_RANDOM_WEIGHTS: JobWarningKind
JOB_ERROR_CODE_UNSPECIFIED: JobErrorCode
JOB_ERROR_CODE_CONSENT_DENIED: JobErrorCode
JOB_ERROR_CODE_CHARACTER_UNAVAILABLE: JobErrorCode
JOB_ERROR_CODE_ATTRIBUTE_CONTRADICTION: JobErrorCode
JOB_ERROR_CODE_GENERATION_FAILED: JobErrorCode
JOB_ERROR_CODE_SCORING_FAILED: JobErrorCode
JOB_ERROR_CODE_STORAGE_FAILED: JobErrorCode
JOB_ERROR_CODE_INTERNAL: JobErrorCode
JOB_EVENT_TYPE_UNSPECIFIED: JobEventType
JOB_EVENT_TYPE_STATE_CHANGED: JobEventType
JOB_EVENT_TYPE_PROGRESS: JobEventType
JOB_EVENT_TYPE_SHOT_STARTED: JobEventType
JOB_EVENT_TYPE_SHOT_FINISHED: JobEventType
JOB_EVENT_TYPE_WARNING: JobEventType
JOB_EVENT_TYPE_LOG: JobEventType
JOB_EVENT_TYPE_PHASE_CHANGED: JobEventType

class SubmitGenerationRequest(_message.Message):
    __slots__ = ("idempotency_key", "purpose", "channel", "territory", "strict_attribute_check", "storyboard")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_FIELD_NUMBER: _ClassVar[int]
    STRICT_ATTRIBUTE_CHECK_FIELD_NUMBER: _ClassVar[int]
    STORYBOARD_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    purpose: _usage_pb2.UsagePurpose
    channel: _usage_pb2.UsageChannel
    territory: str
    strict_attribute_check: bool
    storyboard: Storyboard
    def __init__(self, idempotency_key: _Optional[str] = ..., purpose: _Optional[_Union[_usage_pb2.UsagePurpose, str]] = ..., channel: _Optional[_Union[_usage_pb2.UsageChannel, str]] = ..., territory: _Optional[str] = ..., strict_attribute_check: _Optional[bool] = ..., storyboard: _Optional[_Union[Storyboard, _Mapping]] = ...) -> None: ...

class SubmitGenerationResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class Storyboard(_message.Message):
    __slots__ = ("shots", "stitching", "qa_similarity_threshold")
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    STITCHING_FIELD_NUMBER: _ClassVar[int]
    QA_SIMILARITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    shots: _containers.RepeatedCompositeFieldContainer[Shot]
    stitching: StitchingOptions
    qa_similarity_threshold: float
    def __init__(self, shots: _Optional[_Iterable[_Union[Shot, _Mapping]]] = ..., stitching: _Optional[_Union[StitchingOptions, _Mapping]] = ..., qa_similarity_threshold: _Optional[float] = ...) -> None: ...

class StitchingOptions(_message.Message):
    __slots__ = ("transition", "crossfade_duration")
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    CROSSFADE_DURATION_FIELD_NUMBER: _ClassVar[int]
    transition: Transition
    crossfade_duration: _duration_pb2.Duration
    def __init__(self, transition: _Optional[_Union[Transition, str]] = ..., crossfade_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Shot(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "num_frames", "resolution", "fps", "seed", "guidance_scale", "num_inference_steps", "characters", "preset")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    num_frames: int
    resolution: Resolution
    fps: int
    seed: int
    guidance_scale: float
    num_inference_steps: int
    characters: _containers.RepeatedCompositeFieldContainer[ShotCharacter]
    preset: SpeedPreset
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., num_frames: _Optional[int] = ..., resolution: _Optional[_Union[Resolution, str]] = ..., fps: _Optional[int] = ..., seed: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., num_inference_steps: _Optional[int] = ..., characters: _Optional[_Iterable[_Union[ShotCharacter, _Mapping]]] = ..., preset: _Optional[_Union[SpeedPreset, str]] = ...) -> None: ...

class ShotCharacter(_message.Message):
    __slots__ = ("character_id", "identity_version", "identity_strength", "use_reference_images", "reference_conditioning_scale", "region")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    USE_REFERENCE_IMAGES_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_CONDITIONING_SCALE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    identity_version: int
    identity_strength: float
    use_reference_images: bool
    reference_conditioning_scale: float
    region: ScreenRegion
    def __init__(self, character_id: _Optional[str] = ..., identity_version: _Optional[int] = ..., identity_strength: _Optional[float] = ..., use_reference_images: _Optional[bool] = ..., reference_conditioning_scale: _Optional[float] = ..., region: _Optional[_Union[ScreenRegion, _Mapping]] = ...) -> None: ...

class ScreenRegion(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    width: float
    height: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "idempotency_key", "state", "purpose", "channel", "territory", "strict_attribute_check", "storyboard", "characters", "created_by", "create_time", "start_time", "finish_time", "progress", "warnings", "error", "shot_results", "final_identity_scores", "flagged", "generated_asset_id", "clip_object_id", "random_weights", "model", "scoring_model_pack_id", "last_event_sequence")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_FIELD_NUMBER: _ClassVar[int]
    STRICT_ATTRIBUTE_CHECK_FIELD_NUMBER: _ClassVar[int]
    STORYBOARD_FIELD_NUMBER: _ClassVar[int]
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SHOT_RESULTS_FIELD_NUMBER: _ClassVar[int]
    FINAL_IDENTITY_SCORES_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    GENERATED_ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    CLIP_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RANDOM_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SCORING_MODEL_PACK_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    idempotency_key: str
    state: JobState
    purpose: _usage_pb2.UsagePurpose
    channel: _usage_pb2.UsageChannel
    territory: str
    strict_attribute_check: bool
    storyboard: Storyboard
    characters: _containers.RepeatedCompositeFieldContainer[JobCharacter]
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    progress: JobProgress
    warnings: _containers.RepeatedCompositeFieldContainer[JobWarning]
    error: JobError
    shot_results: _containers.RepeatedCompositeFieldContainer[ShotResult]
    final_identity_scores: _containers.RepeatedCompositeFieldContainer[CharacterIdentityScore]
    flagged: bool
    generated_asset_id: str
    clip_object_id: str
    random_weights: bool
    model: ModelDescription
    scoring_model_pack_id: str
    last_event_sequence: int
    def __init__(self, job_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., purpose: _Optional[_Union[_usage_pb2.UsagePurpose, str]] = ..., channel: _Optional[_Union[_usage_pb2.UsageChannel, str]] = ..., territory: _Optional[str] = ..., strict_attribute_check: _Optional[bool] = ..., storyboard: _Optional[_Union[Storyboard, _Mapping]] = ..., characters: _Optional[_Iterable[_Union[JobCharacter, _Mapping]]] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., progress: _Optional[_Union[JobProgress, _Mapping]] = ..., warnings: _Optional[_Iterable[_Union[JobWarning, _Mapping]]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., shot_results: _Optional[_Iterable[_Union[ShotResult, _Mapping]]] = ..., final_identity_scores: _Optional[_Iterable[_Union[CharacterIdentityScore, _Mapping]]] = ..., flagged: _Optional[bool] = ..., generated_asset_id: _Optional[str] = ..., clip_object_id: _Optional[str] = ..., random_weights: _Optional[bool] = ..., model: _Optional[_Union[ModelDescription, _Mapping]] = ..., scoring_model_pack_id: _Optional[str] = ..., last_event_sequence: _Optional[int] = ...) -> None: ...

class JobCharacter(_message.Message):
    __slots__ = ("character_id", "identity_version", "consent_id")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    identity_version: int
    consent_id: str
    def __init__(self, character_id: _Optional[str] = ..., identity_version: _Optional[int] = ..., consent_id: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("shot_index", "shot_count", "step", "total_steps", "fraction", "phase", "shot_remaining", "job_remaining")
    SHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SHOT_REMAINING_FIELD_NUMBER: _ClassVar[int]
    JOB_REMAINING_FIELD_NUMBER: _ClassVar[int]
    shot_index: int
    shot_count: int
    step: int
    total_steps: int
    fraction: float
    phase: JobPhase
    shot_remaining: _duration_pb2.Duration
    job_remaining: _duration_pb2.Duration
    def __init__(self, shot_index: _Optional[int] = ..., shot_count: _Optional[int] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., fraction: _Optional[float] = ..., phase: _Optional[_Union[JobPhase, str]] = ..., shot_remaining: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., job_remaining: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class JobWarning(_message.Message):
    __slots__ = ("kind", "character_id", "shot_index", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    SHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: JobWarningKind
    character_id: str
    shot_index: int
    message: str
    def __init__(self, kind: _Optional[_Union[JobWarningKind, str]] = ..., character_id: _Optional[str] = ..., shot_index: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message", "character_id", "shot_index")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    SHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    code: JobErrorCode
    message: str
    character_id: str
    shot_index: int
    def __init__(self, code: _Optional[_Union[JobErrorCode, str]] = ..., message: _Optional[str] = ..., character_id: _Optional[str] = ..., shot_index: _Optional[int] = ...) -> None: ...

class ShotResult(_message.Message):
    __slots__ = ("shot_index", "clip_object_id", "generated_asset_id", "seed", "identity_scores", "flagged", "flag_reasons", "model_time")
    SHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    CLIP_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATED_ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_SCORES_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    FLAG_REASONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_TIME_FIELD_NUMBER: _ClassVar[int]
    shot_index: int
    clip_object_id: str
    generated_asset_id: str
    seed: int
    identity_scores: _containers.RepeatedCompositeFieldContainer[CharacterIdentityScore]
    flagged: bool
    flag_reasons: _containers.RepeatedScalarFieldContainer[str]
    model_time: _duration_pb2.Duration
    def __init__(self, shot_index: _Optional[int] = ..., clip_object_id: _Optional[str] = ..., generated_asset_id: _Optional[str] = ..., seed: _Optional[int] = ..., identity_scores: _Optional[_Iterable[_Union[CharacterIdentityScore, _Mapping]]] = ..., flagged: _Optional[bool] = ..., flag_reasons: _Optional[_Iterable[str]] = ..., model_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CharacterIdentityScore(_message.Message):
    __slots__ = ("character_id", "identity_version", "mean_similarity", "min_similarity", "p10_similarity", "no_face_fraction")
    CHARACTER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    MEAN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    P10_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    NO_FACE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    character_id: str
    identity_version: int
    mean_similarity: float
    min_similarity: float
    p10_similarity: float
    no_face_fraction: float
    def __init__(self, character_id: _Optional[str] = ..., identity_version: _Optional[int] = ..., mean_similarity: _Optional[float] = ..., min_similarity: _Optional[float] = ..., p10_similarity: _Optional[float] = ..., no_face_fraction: _Optional[float] = ...) -> None: ...

class ModelDescription(_message.Message):
    __slots__ = ("model_id", "adapter_id", "random_weights", "presets")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_ID_FIELD_NUMBER: _ClassVar[int]
    RANDOM_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    PRESETS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    adapter_id: str
    random_weights: bool
    presets: _containers.RepeatedScalarFieldContainer[SpeedPreset]
    def __init__(self, model_id: _Optional[str] = ..., adapter_id: _Optional[str] = ..., random_weights: _Optional[bool] = ..., presets: _Optional[_Iterable[_Union[SpeedPreset, str]]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("state", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[JobState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "from_sequence")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    from_sequence: int
    def __init__(self, job_id: _Optional[str] = ..., from_sequence: _Optional[int] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: JobEvent
    def __init__(self, event: _Optional[_Union[JobEvent, _Mapping]] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("sequence", "event_time", "type", "state", "progress", "message", "shot_index", "warning", "shot_result", "error")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    SHOT_RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    event_time: _timestamp_pb2.Timestamp
    type: JobEventType
    state: JobState
    progress: JobProgress
    message: str
    shot_index: int
    warning: JobWarning
    shot_result: ShotResult
    error: JobError
    def __init__(self, sequence: _Optional[int] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[_Union[JobEventType, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[_Union[JobProgress, _Mapping]] = ..., message: _Optional[str] = ..., shot_index: _Optional[int] = ..., warning: _Optional[_Union[JobWarning, _Mapping]] = ..., shot_result: _Optional[_Union[ShotResult, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class SynthesizeReferenceRequest(_message.Message):
    __slots__ = ("description", "count", "seed", "resolution")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    description: str
    count: int
    seed: int
    resolution: Resolution
    def __init__(self, description: _Optional[str] = ..., count: _Optional[int] = ..., seed: _Optional[int] = ..., resolution: _Optional[_Union[Resolution, str]] = ...) -> None: ...

class SynthesizeReferenceResponse(_message.Message):
    __slots__ = ("image_object_ids", "seed", "synthetic_notice", "random_weights", "model")
    IMAGE_OBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_NOTICE_FIELD_NUMBER: _ClassVar[int]
    RANDOM_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    image_object_ids: _containers.RepeatedScalarFieldContainer[str]
    seed: int
    synthetic_notice: str
    random_weights: bool
    model: ModelDescription
    def __init__(self, image_object_ids: _Optional[_Iterable[str]] = ..., seed: _Optional[int] = ..., synthetic_notice: _Optional[str] = ..., random_weights: _Optional[bool] = ..., model: _Optional[_Union[ModelDescription, _Mapping]] = ...) -> None: ...

class GetBrandQuotaRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBrandQuotaResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: BrandQuota
    def __init__(self, quota: _Optional[_Union[BrandQuota, _Mapping]] = ...) -> None: ...

class BrandQuota(_message.Message):
    __slots__ = ("max_queued_jobs", "max_running_jobs", "max_queued_jobs_is_override", "max_running_jobs_is_override", "queued_jobs", "running_jobs")
    MAX_QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_JOBS_IS_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNNING_JOBS_IS_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    max_queued_jobs: int
    max_running_jobs: int
    max_queued_jobs_is_override: bool
    max_running_jobs_is_override: bool
    queued_jobs: int
    running_jobs: int
    def __init__(self, max_queued_jobs: _Optional[int] = ..., max_running_jobs: _Optional[int] = ..., max_queued_jobs_is_override: _Optional[bool] = ..., max_running_jobs_is_override: _Optional[bool] = ..., queued_jobs: _Optional[int] = ..., running_jobs: _Optional[int] = ...) -> None: ...

class SetBrandQuotaRequest(_message.Message):
    __slots__ = ("max_queued_jobs", "max_running_jobs")
    MAX_QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    max_queued_jobs: int
    max_running_jobs: int
    def __init__(self, max_queued_jobs: _Optional[int] = ..., max_running_jobs: _Optional[int] = ...) -> None: ...

class SetBrandQuotaResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: BrandQuota
    def __init__(self, quota: _Optional[_Union[BrandQuota, _Mapping]] = ...) -> None: ...
