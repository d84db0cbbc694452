"""Submitting a generation job: the use case behind SubmitGeneration, on typed ports.

The gRPC edge decodes the request into a :class:`Submission` and encodes the :class:`Job` it gets
back; everything in between is here, on ports a test (or a second edge) can fake: the job repository,
the peers the gates ask (assets: characters, identity versions, consent), the video model's
description, and the dispatcher that hands a job straight to an idle worker.

The gates run here once, to refuse a job that cannot run before it is stored (the caller gets every
problem at once, as a FAILED_PRECONDITION with one violation each). A worker runs them again when it
takes the job, because the job may wait while consent is revoked or a character is archived; the
consent gate runs once more before every shot (see ``pipeline.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from likeness.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PreconditionViolation,
    Unavailable,
)
from likeness.generator import gates
from likeness.generator.domain import (
    DEFAULT_CROSSFADE_S,
    Job,
    JobWarning,
    ModelDescription,
    Preset,
    Storyboard,
    Submission,
    Transition,
    WarningKind,
)
from likeness.generator.jobs import NewJob
from likeness.generator.peers import PeerError
from likeness.generator.shots import ModelInfo

RANDOM_WEIGHTS_NOTICE = (
    "this deployment runs a tiny model with random weights: the clips are noise, not the characters, "
    "and must never be published"
)


class JobRepository(Protocol):
    async def find_by_key(self, brand_id: str, idempotency_key: str, request_sha256: str) -> Job | None: ...

    async def submit(
        self, new: NewJob, *, lease_to: str | None = None, lease_s: float = 0.0
    ) -> tuple[Job, bool]: ...


class ModelCatalog(Protocol):
    """What the video model says it is."""

    @property
    def info(self) -> ModelInfo: ...


class Dispatcher(Protocol):
    """The worker pool, as seen by a submission."""

    def offer(self) -> str | None: ...

    async def hand(self, job: Job) -> None: ...

    def wake(self) -> None: ...


def model_description(info: ModelInfo) -> ModelDescription:
    """The model a job runs on, from what the video model reports."""
    return ModelDescription(
        model_id=info.model_id,
        adapter_id=info.adapter_id,
        random_weights=info.random_weights,
        presets=tuple(Preset(preset) for preset in info.presets if preset in Preset.__members__.values()),
    )


def check_crossfade(storyboard: Storyboard) -> None:
    """A crossfade must be shorter than every shot it joins."""
    if storyboard.transition is not Transition.CROSSFADE or len(storyboard.shots) < 2:
        return
    crossfade = storyboard.crossfade_s or DEFAULT_CROSSFADE_S
    shortest = min(shot.frames / shot.playback_fps for shot in storyboard.shots)
    if crossfade >= shortest:
        raise InvalidArgument(
            f"the crossfade ({crossfade:.2f} s) must be shorter than the shortest shot ({shortest:.2f} s)",
            [
                FieldViolation(
                    "storyboard.stitching.crossfade_duration", "must be shorter than the shortest shot"
                )
            ],
        )


class SubmitGeneration:
    """Accept a job once: an idempotency key already used returns its job; a new request is checked by
    the gates, stored with its warnings, and handed to an idle worker of this process if there is one."""

    def __init__(
        self,
        jobs: JobRepository,
        peers: gates.GatePeers,
        model: ModelCatalog,
        dispatcher: Dispatcher,
        *,
        lease_s: float,
    ) -> None:
        self.jobs = jobs
        self.peers = peers
        self.model = model
        self.dispatcher = dispatcher
        self.lease_s = lease_s

    async def __call__(self, submission: Submission) -> Job:
        existing = await self.jobs.find_by_key(
            submission.brand_id, submission.idempotency_key, submission.request_sha256
        )
        if existing is not None:
            return existing
        storyboard = submission.storyboard
        check_crossfade(storyboard)
        usage = gates.Usage(
            submission.brand_id,
            submission.purpose,
            submission.channel,
            submission.territory,
            submission.strict_attribute_check,
        )
        info = self.model.info
        try:
            result = await gates.check(
                self.peers, usage, storyboard, has_adapter=bool(info.adapter_id), presets=info.presets
            )
        except PeerError as error:
            raise Unavailable(f"a dependency is unavailable: {error.message}") from None
        if result.problems:
            raise FailedPrecondition(
                "the job cannot run: " + "; ".join(problem.description for problem in result.problems),
                [PreconditionViolation(p.type, p.subject, p.description) for p in result.problems],
            )
        warnings = list(result.warnings)
        if info.random_weights:
            warnings.append(JobWarning(kind=WarningKind.RANDOM_WEIGHTS, message=RANDOM_WEIGHTS_NOTICE))
        job, leased = await self.jobs.submit(
            NewJob(
                submission=replace(submission, storyboard=storyboard),
                characters=result.characters,
                warnings=tuple(warnings),
                model=model_description(info),
            ),
            lease_to=self.dispatcher.offer(),
            lease_s=self.lease_s,
        )
        if leased:
            await self.dispatcher.hand(job)
        else:
            self.dispatcher.wake()
        return job
