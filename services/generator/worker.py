"""Job workers: asyncio tasks in the generator process that take jobs from the table under a lease and
run them — gates, shots on the video model, QA, stitching, provenance, records.

A worker holds a job only while its lease lives: a heartbeat renews it, and every write is fenced by
it. When a worker (or its process) dies, the lease expires and another worker takes the job, going on
after the last finished shot; a job taken more than ``max_attempts`` times fails with the last reason.
Cancellation (in this process or another) and a lost lease cancel the job's task, which cancels the
model call, so denoising stops at the next step.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likeness.errors import ResourceExhausted
from likeness.generator import gates, provenance, stitching
from likeness.generator.domain import (
    DEFAULT_CROSSFADE_S,
    DEFAULT_IDENTITY_STRENGTH,
    DEFAULT_REFERENCE_CONDITIONING_SCALE,
    RESOLUTIONS,
    ErrorCode,
    EventType,
    IdentityScore,
    Job,
    JobCharacter,
    JobClock,
    JobError,
    JobState,
    JobWarning,
    Phase,
    Progress,
    Shot,
    ShotResult,
    StoredKind,
    Transition,
    WarningKind,
    job_fraction,
)
from likeness.generator.jobs import JobStore, LeaseLost
from likeness.generator.peers import GeneratedAssetRecord, PeerError, Peers
from likeness.generator.settings import GeneratorSettings
from likeness.generator.shots import CharacterConditioning, ShotFrames, ShotRequest, StepProgress
from likeness.generator.videomodel import GenerationFailed, ReplicaLost, ServeVideoModel

logger = logging.getLogger("likeness.generator.worker")


class _Retry(Exception):
    """A retriable infrastructure failure: give the job back for another attempt."""


@dataclass
class _Failure(Exception):
    error: JobError


@dataclass
class _Attempt:
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


class WorkerPool:
    """``settings.workers`` workers sharing one store, model and peers."""

    def __init__(
        self,
        store: JobStore,
        peers: Peers,
        model: ServeVideoModel,
        signing: provenance.SigningIdentity,
        settings: GeneratorSettings,
    ) -> None:
        self.store = store
        self.peers = peers
        self.model = model
        self.signing = signing
        self.settings = settings
        self.owner = f"generator-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = False
        #: Loops waiting for work, and jobs leased to this pool as they were submitted (see ``offer``).
        self._idle = 0
        self._handed: collections.deque[Job] = collections.deque()
        self._loops: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stop_reason: dict[str, str] = {}
        store.on_cancel.append(self.cancelled)

    def start(self) -> None:
        for index in range(self.settings.workers):
            self._loops.append(asyncio.create_task(self._loop(index), name=f"generator-worker-{index}"))

    def wake(self) -> None:
        """A job was queued: let an idle worker look now rather than at its next poll."""
        self._wake.set()

    def offer(self) -> str | None:
        """The owner to lease a job to in its submission, while a worker of this pool is idle for it.

        The submitter then hands the job over (``hand``); that saves the claim's transaction and the
        wait for a worker to notice the job.
        """
        return self.owner if self._worker_free() else None

    async def hand(self, job: Job) -> None:
        """Run a job leased to this pool in its submission. When no worker is idle any more (another
        job came first), the lease is given back at once, so that any worker may claim the job."""
        if self._worker_free():
            self._handed.append(job)
            self._wake.set()
            return
        await self._give_back(job, "")
        self.wake()

    @property
    def idle(self) -> int:
        """Workers waiting for a job now."""
        return self._idle

    def _worker_free(self) -> bool:
        """An idle worker that no handed-over job is already waking."""
        return not self._stopping and self._idle > len(self._handed)

    async def _give_back(self, job: Job, reason: str) -> None:
        """Release the job's lease, its attempt not counted; if that fails the lease runs out on its own
        and any worker takes the job after that."""
        try:
            await self.store.release(job, reason, refund=True)
        except Exception:
            logger.warning("giving back a job's lease failed", extra={"job_id": job.job_id}, exc_info=True)

    def cancelled(self, job_id: str) -> None:
        self._handed = collections.deque(job for job in self._handed if job.job_id != job_id)
        task = self._running.get(job_id)
        if task is not None:
            self._stop_reason[job_id] = "cancelled"
            task.cancel()

    async def stop(self) -> None:
        """Stop taking jobs; jobs in progress are given back (their attempt not counted)."""
        self._stopping = True
        while self._handed:
            await self._give_back(self._handed.popleft(), "the generator shut down")
        for job_id, task in list(self._running.items()):
            self._stop_reason.setdefault(job_id, "shutdown")
            task.cancel()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    async def abandon(self) -> None:
        """Stop at once without giving jobs back, as a crashed process would (tests)."""
        self._stopping = True
        for job_id, task in list(self._running.items()):
            self._stop_reason[job_id] = "abandoned"
            task.cancel()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    async def _loop(self, index: int) -> None:
        while not self._stopping:
            claimed: tuple[Job, str] | None = None
            if self._handed:
                claimed = (self._handed.popleft(), "")
            else:
                try:
                    claimed = await self.store.claim(self.owner, self.settings.lease_s)
                except Exception:
                    logger.exception("claiming a job failed")
                if claimed is not None:
                    # Another idle worker may find more work.
                    self._wake.set()
            if claimed is None:
                self._wake.clear()
                self._idle += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
                finally:
                    self._idle -= 1
                continue
            job, last_failure = claimed
            await self._hold(job, last_failure)

    async def _hold(self, job: Job, last_failure: str) -> None:
        """Run one job with a heartbeat; the job's task is cancelled when the lease is lost."""
        task = asyncio.create_task(self._run(job, last_failure), name=f"job-{job.job_id}")
        self._running[job.job_id] = task
        heartbeat = asyncio.create_task(self._heartbeat(job, task))
        try:
            await asyncio.wait({task})
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._running.pop(job.job_id, None)
            reason = self._stop_reason.pop(job.job_id, "")
        if task.cancelled() and reason == "shutdown":
            await self._give_back(job, "the generator shut down during the job")

    async def _heartbeat(self, job: Job, task: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self.store.heartbeat(job, self.settings.lease_s)
            except LeaseLost:
                self._stop_reason.setdefault(job.job_id, "lease lost")
                task.cancel()
                return
            except Exception:
                # The database may be back before the lease runs out; the next beat tries again.
                logger.warning("heartbeat failed", extra={"job_id": job.job_id}, exc_info=True)

    async def _run(self, job: Job, last_failure: str) -> None:
        attempt = _Attempt(job)
        try:
            await self._execute(attempt, last_failure)
        except LeaseLost:
            logger.info("job left to its new holder", extra={"job_id": job.job_id})
        except _Failure as failure:
            await self._fail(attempt, failure.error)
        except _Retry as retry:
            await self._retry(attempt, str(retry))
        except ResourceExhausted:
            # Every replica is busy: not the job's fault, so the attempt is not counted.
            await asyncio.sleep(self.settings.poll_s)
            await self._give_back(attempt.job, "the video model was busy")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("job failed unexpectedly", extra={"job_id": job.job_id})
            await self._fail(attempt, JobError(code=ErrorCode.INTERNAL, message=f"unexpected error: {error}"))

    async def _fail(self, attempt: _Attempt, error: JobError) -> None:
        with contextlib.suppress(LeaseLost):
            attempt.job = await self.store.update(
                attempt.job,
                state=JobState.FAILED,
                error=error,
                events=[
                    {
                        "type": EventType.STATE_CHANGED,
                        "message": f"job failed: {error.message}",
                        "shot_index": error.shot_index,
                        "error": error,
                    }
                ],
            )

    async def _retry(self, attempt: _Attempt, reason: str) -> None:
        job = attempt.job
        if job.attempts >= self.settings.max_attempts:
            await self._fail(
                attempt,
                JobError(
                    code=ErrorCode.GENERATION_FAILED,
                    message=f"gave up after {job.attempts} attempts; last: {reason}. "
                    "Resubmit with a new key.",
                ),
            )
            return
        delay = self.settings.retry_backoff_s * 2 ** (job.attempts - 1)
        with contextlib.suppress(LeaseLost):
            await self.store.update(
                job,
                events=[
                    {
                        "type": EventType.LOG,
                        "message": f"attempt {job.attempts} stopped: {reason}; retrying in {delay:g} s",
                    }
                ],
            )
            # The lease (and its heartbeat) holds the job meanwhile, so that no worker takes it at once
            # to a replica that is still being replaced.
            await asyncio.sleep(delay)
            await self.store.release(job, reason)
        self.wake()

    # ---- the job ----------------------------------------------------------------------------------

    async def _execute(self, attempt: _Attempt, last_failure: str) -> None:
        job = attempt.job
        if job.attempts > self.settings.max_attempts:
            raise _Failure(
                JobError(
                    code=ErrorCode.GENERATION_FAILED,
                    message=f"gave up after {job.attempts - 1} attempts; last: "
                    f"{last_failure or 'the worker running it stopped'}. Resubmit with a new key.",
                )
            )
        if job.attempts > 1:
            attempt.job = await self.store.update(
                job,
                events=[
                    {
                        "type": EventType.LOG,
                        "message": f"attempt {job.attempts} resumes the job"
                        + (f" after: {last_failure}" if last_failure else " (the previous worker stopped)"),
                    }
                ],
            )
        # The claim moved a queued job to CHECKING.
        if attempt.job.state is JobState.CHECKING:
            await self._check(attempt)
        if attempt.job.state is JobState.RUNNING or attempt.checked is not None:
            await self._shots(attempt)
        if attempt.job.state is JobState.SCORING:
            await self._finish(attempt)

    def _usage(self, job: Job) -> gates.Usage:
        return gates.Usage(job.brand_id, job.purpose, job.channel, job.territory, job.strict_attribute_check)

    async def _check(self, attempt: _Attempt) -> None:
        job = attempt.job
        pinned = {character.character_id: character.identity_version for character in job.characters}
        try:
            result = await gates.check(
                self.peers,
                self._usage(job),
                job.storyboard,
                pinned=pinned,
                has_adapter=bool(self.model.info.adapter_id),
                presets=self.model.info.presets,
            )
        except PeerError as error:
            raise self._peer_failure(error, ErrorCode.INTERNAL) from error
        if result.problems:
            problem = result.problems[0]
            raise _Failure(
                JobError(
                    code=problem.code,
                    message=problem.description,
                    character_id=problem.character_id,
                    shot_index=problem.shot_index,
                )
            )
        # RUNNING is written with the first shot's start (one transaction fewer before the model works).
        attempt.checked = list(result.characters)

    def _peer_failure(self, error: PeerError, code: ErrorCode, shot_index: int | None = None) -> Exception:
        if error.retriable:
            return _Retry(error.message)
        return _Failure(JobError(code=code, message=error.message, shot_index=shot_index))

    async def _identities(self, attempt: _Attempt) -> None:
        job = attempt.job
        wanted = {c.character_id for shot in job.storyboard.shots for c in shot.characters}
        references = {
            c.character_id for shot in job.storyboard.shots for c in shot.characters if c.use_reference_images
        }
        for character_id in sorted(wanted - attempt.z_ids.keys()):
            version = job.pinned_version(character_id)
            try:
                attempt.z_ids[character_id] = await self.peers.embedding(
                    job.brand_id, character_id, version, job.job_id
                )
                if character_id in references:
                    info = await self.peers.identity_version(job.brand_id, character_id, version)
                    object_ids = info.reference_photo_object_ids if info else ()
                    attempt.references[character_id] = tuple(
                        [await self.peers.download(job.brand_id, object_id) for object_id in object_ids]
                    )
            except PeerError as error:
                if error.retriable:
                    raise _Retry(error.message) from error
                raise _Failure(
                    JobError(
                        code=ErrorCode.CHARACTER_UNAVAILABLE,
                        message=f"identity version {version} of character {character_id} is unavailable: "
                        f"{error.message}",
                        character_id=character_id,
                    )
                ) from error

    async def _consent(self, attempt: _Attempt, character_ids: list[str], shot_index: int | None) -> None:
        """Consent again right before GPU work; fails the job on a denial."""
        if not character_ids:
            return
        job = attempt.job
        try:
            consent_ids, problems = await gates.check_consent(self.peers, self._usage(job), character_ids)
        except PeerError as error:
            raise self._peer_failure(error, ErrorCode.INTERNAL, shot_index) from error
        if problems:
            problem = problems[0]
            raise _Failure(
                JobError(
                    code=ErrorCode.CONSENT_DENIED,
                    message=f"consent denied ({problem.type}): {problem.description}",
                    character_id=problem.character_id,
                    shot_index=shot_index,
                )
            )
        characters = [
            JobCharacter(
                character_id=c.character_id,
                identity_version=c.identity_version,
                consent_id=consent_ids.get(c.character_id, c.consent_id),
            )
            for c in job.characters
        ]
        if characters != list(job.characters):
            attempt.job = await self.store.update(job, characters=characters)

    async def _shots(self, attempt: _Attempt) -> None:
        await self._identities(attempt)
        done = {result.shot_index for result in attempt.job.shot_results}
        for index, shot in enumerate(attempt.job.storyboard.shots):
            if index in done:
                continue
            started: dict[str, Any] = {
                "type": EventType.SHOT_STARTED,
                "message": f"shot {index} started",
                "shot_index": index,
            }
            attempt.timing().shot_started()
            progress = self._progress(attempt, index, 0, shot.steps, Phase.DENOISING)
            if attempt.checked is not None:
                # The gates have just checked consent: the job starts running with its first shot.
                attempt.job = await self.store.update(
                    attempt.job,
                    state=JobState.RUNNING,
                    characters=attempt.checked,
                    progress=progress,
                    events=[{"type": EventType.STATE_CHANGED, "message": RUNNING_MESSAGE}, started],
                )
                attempt.checked = None
            else:
                await self._consent(attempt, [c.character_id for c in shot.characters], index)
                attempt.job = await self.store.update(attempt.job, progress=progress, events=[started])
            frames = await self._generate(attempt, index, shot)
            await self._phase(
                attempt, Phase.SIGNING, index, f"shot {index} generated; signing and storing its clip"
            )
            await self._record_shot(attempt, index, shot, frames)
            attempt.timing().shot_finished()
        await self._consent(attempt, attempt.job.storyboard.character_ids(), None)
        attempt.job = await self.store.update(
            attempt.job,
            state=JobState.SCORING,
            events=[{"type": EventType.STATE_CHANGED, "message": "stitching, scoring and marking the clip"}],
        )

    def _progress(
        self, attempt: _Attempt, shot_index: int, step: int, total_steps: int, phase: Phase | None = None
    ) -> Progress:
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

    async def _phase(self, attempt: _Attempt, phase: Phase, shot_index: int | None, message: str) -> None:
        """A PHASE_CHANGED event: the job moved on to ``phase`` of a shot (or, without one, of the job)."""
        progress = attempt.job.progress
        if shot_index is not None:
            progress = self._progress(attempt, shot_index, progress.step, progress.total_steps, phase)
        else:
            progress = progress.model_copy(update={"phase": phase})
        event: dict[str, Any] = {"type": EventType.PHASE_CHANGED, "message": message}
        if shot_index is not None:
            event["shot_index"] = shot_index
        attempt.job = await self.store.update(attempt.job, progress=progress, events=[event])

    def _shot_request(self, attempt: _Attempt, index: int, shot: Shot) -> ShotRequest:
        job = attempt.job
        height, width = self.settings.frame_size or RESOLUTIONS[shot.resolution]
        default_strength = DEFAULT_IDENTITY_STRENGTH if self.model.info.adapter_id else 0.0
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
                region=None
                if c.region is None
                else (c.region.x, c.region.y, c.region.width, c.region.height),
            )
            for c in shot.characters
        )
        return ShotRequest(
            request_id=f"{job.job_id}/{index}/{job.attempts}",
            prompt=shot.prompt,
            negative_prompt=shot.negative_prompt or self.settings.default_negative_prompt,
            num_frames=shot.frames,
            height=height,
            width=width,
            seed=shot.seed if shot.seed is not None else shot_seed(job.job_id, index),
            num_inference_steps=shot.steps,
            guidance_scale=shot.guidance,
            characters=characters,
            # The worker stores at most one PROGRESS event per interval: the replica need send no more.
            progress_interval_s=self.settings.progress_interval_s,
            preset=str(shot.preset),
        )

    async def _generate(self, attempt: _Attempt, index: int, shot: Shot) -> ShotFrames:
        request = self._shot_request(attempt, index, shot)
        last_write = time.monotonic()
        result: ShotFrames | None = None
        try:
            async for item in self.model.generate(request):
                if isinstance(item, StepProgress):
                    now = time.monotonic()
                    if now - last_write >= self.settings.progress_interval_s or item.step >= item.total_steps:
                        last_write = now
                        # Fenced like every write: a job cancelled elsewhere stops here too.
                        attempt.job = await self.store.update(
                            attempt.job,
                            progress=self._progress(
                                attempt, index, item.step, item.total_steps, Phase.DENOISING
                            ),
                            events=[{"type": EventType.PROGRESS, "shot_index": index}],
                        )
                    if item.step >= item.total_steps:
                        attempt.timing().denoised()
                        await self._phase(attempt, Phase.DECODING, index, f"shot {index} denoised; decoding")
                else:
                    result = item
        except ReplicaLost as error:
            raise _Retry(f"the model replica was lost during shot {index}: {error}") from error
        except GenerationFailed as error:
            raise _Failure(
                JobError(code=ErrorCode.GENERATION_FAILED, message=f"shot {index}: {error}", shot_index=index)
            ) from error
        if result is None:
            raise _Retry(f"the model stream for shot {index} ended without frames")
        return result

    def _flags(self, scores: Sequence[IdentityScore], threshold: float) -> list[str]:
        reasons = []
        for score in scores:
            if score.no_face_fraction > self.settings.qa_max_no_face_fraction:
                reasons.append(
                    f"character {score.character_id}: face missing in "
                    f"{score.no_face_fraction:.0%} of sampled frames"
                )
            if score.mean_similarity is None:
                if score.no_face_fraction <= self.settings.qa_max_no_face_fraction:
                    reasons.append(f"character {score.character_id}: no face found")
            elif score.mean_similarity < threshold:
                reasons.append(
                    f"character {score.character_id}: mean identity similarity "
                    f"{score.mean_similarity:.2f} below {threshold:.2f}"
                )
        return reasons

    async def _publish(
        self,
        job: Job,
        clip: bytes,
        shot_indexes: list[int],
        character_ids: list[str],
        title: str,
        z_ids: dict[str, np.ndarray],
        scoring: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[str, str, list[IdentityScore], str, list[str], provenance.SignedClip]:
        """Sign, upload, score and record a clip; returns (asset id, clip id, scores, pack, flags, signed)."""
        assertion = provenance.likeness_assertion(
            job_id=job.job_id,
            brand_id=job.brand_id,
            shot_indexes=shot_indexes,
            presets=[str(job.storyboard.shots[index].preset) for index in shot_indexes],
            characters=[
                {
                    "character_id": cid,
                    "identity_version": job.pinned_version(cid),
                    "consent_id": job.consent_id(cid),
                }
                for cid in character_ids
            ],
            purpose=job.purpose.name,
            channel=job.channel.name,
            territory=job.territory,
            model=job.model.model_dump(mode="json"),
        )
        signed = await asyncio.to_thread(provenance.sign_clip, self.signing, clip, assertion, title)
        try:
            clip_id = await self.peers.upload(
                job.brand_id, StoredKind.GENERATED_CLIP, signed.clip, f"{title}.mp4", "video/mp4"
            )
        except PeerError as error:
            raise self._peer_failure(error, ErrorCode.STORAGE_FAILED) from error
        scores: list[IdentityScore] = []
        pack = ""
        if scoring is not None:
            await scoring()
        if character_ids:
            identities = [(cid, job.pinned_version(cid), z_ids[cid]) for cid in character_ids]
            try:
                clip_scores = await self.peers.score_clip(
                    job.brand_id, clip_id, identities, self.settings.qa_sample_frames
                )
            except PeerError as error:
                raise self._peer_failure(error, ErrorCode.SCORING_FAILED) from error
            scores = [clip_scores.scores[cid] for cid in character_ids]
            pack = clip_scores.model_pack_id
        threshold = job.storyboard.qa_similarity_threshold
        flags = self._flags(scores, self.settings.qa_similarity_threshold if threshold is None else threshold)
        try:
            manifest_id = await self.peers.upload(
                job.brand_id,
                StoredKind.C2PA_MANIFEST,
                signed.manifest_store,
                f"{title}.c2pa",
                "application/c2pa",
            )
            shots = job.storyboard.shots
            asset_id = await self.peers.record_generated_asset(
                job.brand_id,
                GeneratedAssetRecord(
                    clip_object_id=clip_id,
                    job_id=job.job_id,
                    shots=[
                        (
                            index,
                            shots[index].prompt,
                            shots[index].negative_prompt or self.settings.default_negative_prompt,
                            self._seed(job, index),
                        )
                        for index in shot_indexes
                    ],
                    characters=[
                        (
                            score.character_id,
                            score.identity_version,
                            job.consent_id(score.character_id),
                            score,
                        )
                        for score in scores
                    ],
                    purpose=job.purpose,
                    channel=job.channel,
                    territory=job.territory,
                    flagged=bool(flags),
                    flag_reasons=flags,
                    provenance_manifest_sha256=signed.provenance_sha256,
                    c2pa_manifest_object_id=manifest_id,
                    model=job.model,
                    scoring_model_pack_id=pack or "none",
                ),
            )
        except PeerError as error:
            raise self._peer_failure(error, ErrorCode.STORAGE_FAILED) from error
        return asset_id, clip_id, scores, pack, flags, signed

    def _seed(self, job: Job, index: int) -> int:
        seed = job.storyboard.shots[index].seed
        return seed if seed is not None else shot_seed(job.job_id, index)

    async def _record_shot(self, attempt: _Attempt, index: int, shot: Shot, frames: ShotFrames) -> None:
        job = attempt.job
        clip = await asyncio.to_thread(stitching.encode_mp4, frames.frames, shot.playback_fps)
        character_ids = [c.character_id for c in shot.characters]
        asset_id, clip_id, scores, pack, flags, signed = await self._publish(
            job,
            clip,
            [index],
            character_ids,
            f"job-{job.job_id}-shot-{index}",
            attempt.z_ids,
            lambda: self._phase(
                attempt, Phase.SCORING, index, f"shot {index} stored; scoring and recording it"
            ),
        )
        job = attempt.job  # with the phase events written meanwhile
        attempt.clips[index] = signed.clip
        result = ShotResult(
            shot_index=index,
            clip_object_id=clip_id,
            generated_asset_id=asset_id,
            seed=frames.seed,
            identity_scores=tuple(scores),
            flagged=bool(flags),
            flag_reasons=tuple(flags),
            model_s=frames.model_s,
        )
        events: list[dict[str, Any]] = [
            {"type": EventType.SHOT_FINISHED, "message": f"shot {index} finished", "shot_index": index,
             "shot_result": result}
        ]  # fmt: skip
        warnings = list(job.warnings)
        if flags:
            warning = JobWarning(
                kind=WarningKind.SHOT_FLAGGED,
                shot_index=index,
                message=f"shot {index} flagged: {'; '.join(flags)}",
            )
            warnings.append(warning)
            events.append(
                {
                    "type": EventType.WARNING,
                    "message": warning.message,
                    "shot_index": index,
                    "warning": warning,
                }
            )
        attempt.job = await self.store.update(
            job,
            shot_results=[*job.shot_results, result],
            flagged=job.flagged or bool(flags),
            warnings=warnings,
            scoring_model_pack_id=pack or job.scoring_model_pack_id,
            progress=self._progress(attempt, index + 1, 0, 0),
            events=events,
        )

    async def _finish(self, attempt: _Attempt) -> None:
        job = attempt.job
        results = sorted(job.shot_results, key=lambda result: result.shot_index)
        if len(results) == 1:
            only = results[0]
            attempt.job = await self.store.update(
                job,
                state=JobState.SUCCEEDED,
                final_identity_scores=list(only.identity_scores),
                generated_asset_id=only.generated_asset_id,
                clip_object_id=only.clip_object_id,
                progress=self._progress(attempt, len(job.storyboard.shots), 0, 0),
                events=[{"type": EventType.STATE_CHANGED, "message": "job succeeded"}],
            )
            return
        await self._identities(attempt)
        clips = []
        for result in results:
            clip = attempt.clips.get(result.shot_index)
            if clip is None:
                try:
                    clip = await self.peers.download(job.brand_id, result.clip_object_id)
                except PeerError as error:
                    raise self._peer_failure(error, ErrorCode.STORAGE_FAILED) from error
            clips.append(clip)
        fps = job.storyboard.shots[0].playback_fps
        crossfade = None
        if job.storyboard.transition is Transition.CROSSFADE:
            crossfade = job.storyboard.crossfade_s or DEFAULT_CROSSFADE_S
        await self._phase(attempt, Phase.STITCHING, None, f"joining {len(clips)} shots")
        stitched = await asyncio.to_thread(_stitch_clips, clips, fps, crossfade)
        await self._phase(attempt, Phase.SIGNING, None, "signing and storing the stitched clip")
        character_ids = job.storyboard.character_ids()
        asset_id, clip_id, scores, pack, flags, _ = await self._publish(
            attempt.job,
            stitched,
            [result.shot_index for result in results],
            character_ids,
            f"job-{job.job_id}",
            attempt.z_ids,
            lambda: self._phase(attempt, Phase.SCORING, None, "scoring and recording the stitched clip"),
        )
        job = attempt.job
        warnings = list(job.warnings)
        events: list[dict[str, Any]] = []
        if flags:
            warning = JobWarning(
                kind=WarningKind.SHOT_FLAGGED, message=f"final clip flagged: {'; '.join(flags)}"
            )
            warnings.append(warning)
            events.append({"type": EventType.WARNING, "message": warning.message, "warning": warning})
        events.append({"type": EventType.STATE_CHANGED, "message": "job succeeded"})
        attempt.job = await self.store.update(
            job,
            state=JobState.SUCCEEDED,
            final_identity_scores=scores,
            flagged=job.flagged or bool(flags),
            warnings=warnings,
            generated_asset_id=asset_id,
            clip_object_id=clip_id,
            scoring_model_pack_id=pack or job.scoring_model_pack_id,
            progress=Progress(
                shot_index=len(job.storyboard.shots) - 1, shot_count=len(job.storyboard.shots), fraction=1.0
            ),
            events=events,
        )


def _stitch_clips(clips: list[bytes], fps: int, crossfade_s: float | None) -> bytes:
    frames = [stitching.decode_mp4(clip)[0] for clip in clips]
    return stitching.encode_mp4(stitching.stitch(frames, fps, crossfade_s), fps)
