"""One attempt at a job: what it keeps in memory, how it ends (retry or failure), and what it derives
for the model (each shot's request, the progress to report)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from likeness.generator.domain import (
    DEFAULT_IDENTITY_STRENGTH,
    DEFAULT_REFERENCE_CONDITIONING_SCALE,
    RESOLUTIONS,
    ErrorCode,
    Job,
    JobCharacter,
    JobClock,
    JobError,
    Phase,
    Progress,
    Shot,
    job_fraction,
)
from likeness.generator.peers import PeerError
from likeness.generator.settings import GeneratorSettings
from likeness.generator.shots import CharacterConditioning, ShotRequest


class Retry(Exception):
    """A retriable infrastructure failure: give the job back for another attempt."""


@dataclass
class Failure(Exception):
    """The job cannot succeed: it fails with ``error``."""

    error: JobError


@dataclass
class Attempt:
    """What one attempt at a job keeps in memory."""

    job: Job
    z_ids: dict[str, np.ndarray] = field(default_factory=dict)
    references: dict[str, tuple[bytes, ...]] = field(default_factory=dict)
    clips: dict[int, bytes] = field(default_factory=dict)
    #: The characters (with their consent records) the gates passed in this attempt, until RUNNING
    #: is written.
    checked: list[JobCharacter] | None = None
    #: Measured times of this attempt, for the estimates of the time left.
    clock: JobClock | None = None

    def timing(self) -> JobClock:
        if self.clock is None:
            self.clock = JobClock(self.job.storyboard)
        return self.clock


RUNNING_MESSAGE = "generating shots"


def shot_seed(job_id: str, shot_index: int) -> int:
    """The seed of a shot without one: random per job, the same on every attempt."""
    digest = hashlib.sha256(f"{job_id}:{shot_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def seed_of(job: Job, index: int) -> int:
    seed = job.storyboard.shots[index].seed
    return seed if seed is not None else shot_seed(job.job_id, index)


def peer_failure(error: PeerError, code: ErrorCode, shot_index: int | None = None) -> Exception:
    """A peer's failure as the attempt's outcome: retried when the peer may recover, else the job fails."""
    if error.retriable:
        return Retry(error.message)
    return Failure(JobError(code=code, message=error.message, shot_index=shot_index))


def progress_at(
    attempt: Attempt, shot_index: int, step: int, total_steps: int, phase: Phase | None = None
) -> Progress:
    """The job's progress at a step of a shot, with the time left estimated from this attempt."""
    job = attempt.job
    shot_left, job_left = attempt.timing().remaining(shot_index, step, total_steps)
    return Progress(
        shot_index=shot_index,
        shot_count=len(job.storyboard.shots),
        step=step,
        total_steps=total_steps,
        fraction=job_fraction(job.storyboard, shot_index, step, total_steps),
        phase=phase,
        shot_remaining_s=shot_left,
        job_remaining_s=job_left,
    )


def shot_request(
    attempt: Attempt, index: int, shot: Shot, settings: GeneratorSettings, has_adapter: bool
) -> ShotRequest:
    """What the video model is asked for one shot of the attempt's job."""
    job = attempt.job
    height, width = settings.frame_size or RESOLUTIONS[shot.resolution]
    default_strength = DEFAULT_IDENTITY_STRENGTH if has_adapter else 0.0
    characters = tuple(
        CharacterConditioning(
            character_id=c.character_id,
            z_id=attempt.z_ids[c.character_id],
            identity_strength=default_strength if c.identity_strength is None else c.identity_strength,
            reference_images=attempt.references.get(c.character_id, ()) if c.use_reference_images else (),
            reference_conditioning_scale=(
                DEFAULT_REFERENCE_CONDITIONING_SCALE
                if c.reference_conditioning_scale is None
                else c.reference_conditioning_scale
            ),
            region=None if c.region is None else (c.region.x, c.region.y, c.region.width, c.region.height),
        )
        for c in shot.characters
    )
    return ShotRequest(
        request_id=f"{job.job_id}/{index}/{job.attempts}",
        prompt=shot.prompt,
        negative_prompt=shot.negative_prompt or settings.default_negative_prompt,
        num_frames=shot.frames,
        height=height,
        width=width,
        seed=seed_of(job, index),
        num_inference_steps=shot.steps,
        guidance_scale=shot.guidance,
        characters=characters,
        # The worker stores at most one PROGRESS event per interval: the replica need send no more.
        progress_interval_s=settings.progress_interval_s,
        preset=str(shot.preset),
    )
