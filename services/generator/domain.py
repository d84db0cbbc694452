"""What a generation job is, as the job store keeps it: plain models, no gRPC types.

Every model here round-trips through JSON (the job table's documents) unchanged.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

#: Defaults the contract states for unset shot fields.
DEFAULT_NUM_FRAMES = 81
DEFAULT_FPS = 16
DEFAULT_STEPS = 40
DEFAULT_GUIDANCE = 4.0
DEFAULT_IDENTITY_STRENGTH = 0.8
DEFAULT_REFERENCE_CONDITIONING_SCALE = 1.0
DEFAULT_CROSSFADE_S = 0.5

#: Resolution numbers (as in the contract) to (height, width).
RESOLUTIONS = {1: (480, 832), 2: (720, 1280)}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class JobState(enum.StrEnum):
    QUEUED = "queued"
    CHECKING = "checking"
    RUNNING = "running"
    SCORING = "scoring"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

    def may_become(self, new: JobState) -> bool:
        """Whether a job in this state may change to ``new`` (staying is not a change)."""
        return new in _NEXT_STATES[self]


ACTIVE_STATES = (JobState.QUEUED, JobState.CHECKING, JobState.RUNNING, JobState.SCORING)

#: A job's life: the claim moves a queued job to checking (the gates); checking leads to its shots
#: (running) or straight to scoring when every shot was done by an earlier attempt; scoring publishes the
#: clip. An unfinished job may be cancelled or fail at any point; an attempt given back keeps the state,
#: and the next attempt resumes from it. A finished job never changes again.
_NEXT_STATES: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.CHECKING, JobState.CANCELLED, JobState.FAILED}),
    JobState.CHECKING: frozenset({JobState.RUNNING, JobState.SCORING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.SCORING, JobState.CANCELLED, JobState.FAILED}),
    JobState.SCORING: frozenset({JobState.SUCCEEDED, JobState.CANCELLED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class EventType(enum.StrEnum):
    STATE_CHANGED = "state_changed"
    PROGRESS = "progress"
    SHOT_STARTED = "shot_started"
    SHOT_FINISHED = "shot_finished"
    WARNING = "warning"
    LOG = "log"
    PHASE_CHANGED = "phase_changed"


class WarningKind(enum.StrEnum):
    ATTRIBUTE_CONTRADICTION = "attribute_contradiction"
    SHOT_FLAGGED = "shot_flagged"
    RANDOM_WEIGHTS = "random_weights"


class ErrorCode(enum.StrEnum):
    CONSENT_DENIED = "consent_denied"
    CHARACTER_UNAVAILABLE = "character_unavailable"
    ATTRIBUTE_CONTRADICTION = "attribute_contradiction"
    GENERATION_FAILED = "generation_failed"
    SCORING_FAILED = "scoring_failed"
    STORAGE_FAILED = "storage_failed"
    INTERNAL = "internal"


class Region(Frozen):
    x: float
    y: float
    width: float
    height: float


class ShotCharacter(Frozen):
    character_id: str
    #: 0 at submission means "current"; the job pins a number in JobCharacter.
    identity_version: int = 0
    identity_strength: float | None = None
    use_reference_images: bool = False
    reference_conditioning_scale: float | None = None
    region: Region | None = None


class Preset(enum.StrEnum):
    """How a shot trades fidelity for time (the contract's SpeedPreset)."""

    FINAL = "final"
    DRAFT = "draft"
    FAST = "fast"


#: A draft shot's steps and guidance: the distilled LoRA's own (Wan2.2-Lightning: 4 steps, no CFG).
DRAFT_STEPS = 4
DRAFT_GUIDANCE = 1.0


class Shot(Frozen):
    prompt: str
    negative_prompt: str = ""
    num_frames: int = 0
    resolution: int = 1
    fps: int = 0
    seed: int | None = None
    guidance_scale: float | None = None
    num_inference_steps: int = 0
    characters: tuple[ShotCharacter, ...] = ()
    preset: Preset = Preset.FINAL

    @property
    def frames(self) -> int:
        return self.num_frames or DEFAULT_NUM_FRAMES

    @property
    def playback_fps(self) -> int:
        return self.fps or DEFAULT_FPS

    @property
    def steps(self) -> int:
        if self.preset is Preset.DRAFT:
            return DRAFT_STEPS
        return self.num_inference_steps or DEFAULT_STEPS

    @property
    def guidance(self) -> float:
        if self.preset is Preset.DRAFT:
            return DRAFT_GUIDANCE
        return DEFAULT_GUIDANCE if self.guidance_scale is None else self.guidance_scale

    @property
    def cost(self) -> float:
        """Relative cost of the shot for progress estimates: steps times frames."""
        return float(self.steps * self.frames)


class UsagePurpose(enum.StrEnum):
    """What a clip is for (the contracts' likeness.common.v1.UsagePurpose)."""

    ADVERTISING = "advertising"
    SOCIAL = "social"
    EDITORIAL = "editorial"
    INTERNAL_TESTING = "internal_testing"


class UsageChannel(enum.StrEnum):
    """Where a clip is shown (the contracts' likeness.common.v1.UsageChannel)."""

    TV = "tv"
    ONLINE_VIDEO = "online_video"
    SOCIAL = "social"
    PRINT = "print"
    OUT_OF_HOME = "out_of_home"
    INTERNAL = "internal"


class StoredKind(enum.StrEnum):
    """What the generator stores in the assets service (the assets contract's ObjectPurpose)."""

    SYNTHETIC_REFERENCE = "synthetic_reference"
    GENERATED_CLIP = "generated_clip"
    C2PA_MANIFEST = "c2pa_manifest"


class Transition(enum.StrEnum):
    """How a storyboard's shots are joined (the contract's Transition)."""

    CUT = "cut"
    CROSSFADE = "crossfade"


class Storyboard(Frozen):
    shots: tuple[Shot, ...]
    #: None: not set (a cut).
    transition: Transition | None = None
    crossfade_s: float | None = None
    qa_similarity_threshold: float | None = None

    def character_ids(self) -> list[str]:
        """Every character of the storyboard once, in order of first appearance."""
        seen: dict[str, None] = {}
        for shot in self.shots:
            for character in shot.characters:
                seen.setdefault(character.character_id, None)
        return list(seen)


class JobCharacter(Frozen):
    character_id: str
    identity_version: int
    consent_id: str = ""


class Phase(enum.StrEnum):
    """What a running job is doing (the contract's JobPhase)."""

    DENOISING = "denoising"
    DECODING = "decoding"
    SIGNING = "signing"
    SCORING = "scoring"
    STITCHING = "stitching"


class Progress(Frozen):
    shot_index: int = 0
    shot_count: int = 0
    step: int = 0
    total_steps: int = 0
    fraction: float = 0.0
    phase: Phase | None = None
    #: Estimated seconds left in the shot and in the job; None until measured.
    shot_remaining_s: float | None = None
    job_remaining_s: float | None = None


class JobWarning(Frozen):
    kind: WarningKind
    character_id: str = ""
    shot_index: int | None = None
    message: str


class JobError(Frozen):
    code: ErrorCode
    message: str
    character_id: str = ""
    shot_index: int | None = None


class IdentityScore(Frozen):
    character_id: str
    identity_version: int
    mean_similarity: float | None = None
    min_similarity: float | None = None
    p10_similarity: float | None = None
    no_face_fraction: float = 0.0

    def similarities(self) -> dict[str, float]:
        """The similarity figures that were measured (a clip with no face has none), by field name."""
        values = {
            "mean_similarity": self.mean_similarity,
            "min_similarity": self.min_similarity,
            "p10_similarity": self.p10_similarity,
        }
        return {name: value for name, value in values.items() if value is not None}


class ShotResult(Frozen):
    shot_index: int
    clip_object_id: str
    generated_asset_id: str
    seed: int
    identity_scores: tuple[IdentityScore, ...] = ()
    flagged: bool = False
    flag_reasons: tuple[str, ...] = ()
    #: Seconds the model worked on the shot on its replica.
    model_s: float = 0.0


class BrandQuota(Frozen):
    """A brand's job limits in force and its use of them (0 running: no limit of its own)."""

    max_queued_jobs: int
    max_running_jobs: int
    max_queued_jobs_is_override: bool
    max_running_jobs_is_override: bool
    queued_jobs: int
    running_jobs: int


class ModelDescription(Frozen):
    model_id: str = ""
    adapter_id: str = ""
    random_weights: bool = False
    presets: tuple[Preset, ...] = (Preset.FINAL,)


class Job(Frozen):
    job_id: str
    brand_id: str
    idempotency_key: str
    state: JobState
    purpose: UsagePurpose
    channel: UsageChannel
    territory: str
    strict_attribute_check: bool
    storyboard: Storyboard
    characters: tuple[JobCharacter, ...]
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: Progress
    warnings: tuple[JobWarning, ...]
    error: JobError | None
    shot_results: tuple[ShotResult, ...]
    final_identity_scores: tuple[IdentityScore, ...]
    flagged: bool
    generated_asset_id: str
    clip_object_id: str
    model: ModelDescription
    scoring_model_pack_id: str
    last_event_sequence: int
    attempts: int = 0
    lease_id: str | None = None

    def pinned_version(self, character_id: str) -> int:
        for character in self.characters:
            if character.character_id == character_id:
                return character.identity_version
        raise KeyError(character_id)

    def consent_id(self, character_id: str) -> str:
        for character in self.characters:
            if character.character_id == character_id:
                return character.consent_id
        raise KeyError(character_id)


@dataclass(frozen=True)
class Submission:
    """A decoded SubmitGeneration request and who sent it."""

    brand_id: str
    subject: str
    idempotency_key: str
    #: SHA-256 of the request as received: a repeated key must carry the same request.
    request_sha256: str
    purpose: UsagePurpose
    channel: UsageChannel
    territory: str
    strict_attribute_check: bool
    storyboard: Storyboard


class JobEvent(Frozen):
    job_id: str
    sequence: int
    event_time: datetime
    type: EventType
    state: JobState
    progress: Progress
    message: str = ""
    shot_index: int | None = None
    warning: JobWarning | None = None
    shot_result: ShotResult | None = None
    error: JobError | None = None


def job_fraction(storyboard: Storyboard, shot_index: int, step: int, total_steps: int) -> float:
    """The share of the job's work done when `shot_index` is at `step` of `total_steps`."""
    costs = [shot.cost for shot in storyboard.shots]
    total = sum(costs) or 1.0
    done = sum(costs[:shot_index])
    if shot_index < len(costs) and total_steps > 0:
        done += costs[shot_index] * min(step, total_steps) / total_steps
    return min(1.0, done / total)


def step_cost(shot: Shot) -> float:
    """What one denoising step of a shot costs, relative to others: its frames, twice with guidance."""
    return float(shot.frames * (2 if shot.guidance > 1.0 else 1))


class JobClock:
    """Measured times of one attempt at a job, and the time left they predict.

    Denoising time is measured per unit of :func:`step_cost` (so a shot's rate predicts shots of other
    lengths), and the finishing of each shot (decoding, signing, scoring) by itself; the job's own
    finishing (stitching, signing, scoring) is taken as one more shot's finishing. Nothing is
    predicted before the first step of the attempt has been measured.
    """

    def __init__(self, storyboard: Storyboard, now: Callable[[], float] = time.monotonic) -> None:
        self._storyboard = storyboard
        self._now = now
        self._seconds_per_cost: float | None = None
        self._finishing: list[float] = []
        self._shot_started = 0.0
        self._finish_started: float | None = None

    def shot_started(self) -> None:
        self._shot_started = self._now()
        self._finish_started = None

    def denoised(self) -> None:
        self._finish_started = self._now()

    def shot_finished(self) -> None:
        if self._finish_started is not None:
            self._finishing.append(self._now() - self._finish_started)

    def _finishing_estimate(self) -> float:
        return sum(self._finishing) / len(self._finishing) if self._finishing else 0.0

    def remaining(self, shot_index: int, step: int, total_steps: int) -> tuple[float | None, float | None]:
        """(seconds left in the shot, seconds left in the job) at ``step`` of ``total_steps``."""
        shots = self._storyboard.shots
        if 0 < step and shot_index < len(shots) and self._finish_started is None:
            per_step = (self._now() - self._shot_started) / step
            self._seconds_per_cost = per_step / step_cost(shots[shot_index])
        if self._seconds_per_cost is None:
            return None, None
        finishing = self._finishing_estimate()
        shot_left = 0.0
        if shot_index < len(shots):
            steps_left = max(0, total_steps - step)
            shot_left = steps_left * step_cost(shots[shot_index]) * self._seconds_per_cost
            if self._finish_started is None:
                shot_left += finishing
            else:  # finishing now: what is left of the usual finishing time
                shot_left += max(0.0, finishing - (self._now() - self._finish_started))
        later = shots[shot_index + 1 :]
        job_left = shot_left + sum(
            shot.steps * step_cost(shot) * self._seconds_per_cost + finishing for shot in later
        )
        if len(shots) > 1:
            job_left += finishing  # the stitched clip's signing and scoring
        return shot_left, job_left
