"""The job pipeline: one attempt at a job, from the gates through every shot on the video model to the
signed, scored and recorded clip.

An attempt resumes where the last one stopped (after the last finished shot). Infrastructure that
may recover (a peer, a lost replica) gives the job back for another attempt with back-off; a job that
cannot succeed (consent denied, a character gone, the model refusing the request) fails with the
reason. Every write is fenced by the job's lease (see ``scheduler.py``, which runs this).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from likeness.generator import gates, provenance, stitching
from likeness.generator.attempt import (
    RUNNING_MESSAGE,
    Attempt,
    Failure,
    Retry,
    peer_failure,
    progress_at,
    shot_request,
)
from likeness.generator.domain import (
    DEFAULT_CROSSFADE_S,
    ErrorCode,
    EventType,
    Job,
    JobCharacter,
    JobError,
    JobState,
    JobWarning,
    Phase,
    Progress,
    Shot,
    ShotResult,
    Transition,
    WarningKind,
)
from likeness.generator.jobs import JobStore
from likeness.generator.peers import PeerError, Peers
from likeness.generator.publishing import Publisher, stitch_clips
from likeness.generator.settings import GeneratorSettings
from likeness.generator.shots import ShotFrames, StepProgress
from likeness.generator.videomodel import GenerationFailed, ReplicaLost, ServeVideoModel

logger = logging.getLogger("likeness.generator.pipeline")


class JobPipeline:
    """Runs attempts at jobs on one store, model, peers and signing identity."""

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
        self.settings = settings
        self.publisher = Publisher(peers, signing, settings)

    async def execute(self, attempt: Attempt, last_failure: str) -> None:
        """Go on with the job from where its last attempt stopped. Ends by raising ``Retry`` (give it
        back for another attempt), ``Failure`` (it fails), ``LeaseLost`` (another worker has it) or
        ``ResourceExhausted`` (every replica busy); returns when the job succeeded."""
        job = attempt.job
        if job.attempts > self.settings.max_attempts:
            raise Failure(
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

    async def _check(self, attempt: Attempt) -> None:
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
            raise peer_failure(error, ErrorCode.INTERNAL) from error
        if result.problems:
            problem = result.problems[0]
            raise Failure(
                JobError(
                    code=problem.code,
                    message=problem.description,
                    character_id=problem.character_id,
                    shot_index=problem.shot_index,
                )
            )
        # RUNNING is written with the first shot's start (one transaction fewer before the model works).
        attempt.checked = list(result.characters)

    async def _identities(self, attempt: Attempt) -> None:
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
                    raise Retry(error.message) from error
                raise Failure(
                    JobError(
                        code=ErrorCode.CHARACTER_UNAVAILABLE,
                        message=f"identity version {version} of character {character_id} is unavailable: "
                        f"{error.message}",
                        character_id=character_id,
                    )
                ) from error

    async def _consent(self, attempt: Attempt, character_ids: list[str], shot_index: int | None) -> None:
        """Consent again right before GPU work; fails the job on a denial."""
        if not character_ids:
            return
        job = attempt.job
        try:
            consent_ids, problems = await gates.check_consent(self.peers, self._usage(job), character_ids)
        except PeerError as error:
            raise peer_failure(error, ErrorCode.INTERNAL, shot_index) from error
        if problems:
            problem = problems[0]
            raise Failure(
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

    async def _shots(self, attempt: Attempt) -> None:
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
            progress = progress_at(attempt, index, 0, shot.steps, Phase.DENOISING)
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

    async def _phase(self, attempt: Attempt, phase: Phase, shot_index: int | None, message: str) -> None:
        """A PHASE_CHANGED event: the job moved on to ``phase`` of a shot (or, without one, of the job)."""
        progress = attempt.job.progress
        if shot_index is not None:
            progress = progress_at(attempt, shot_index, progress.step, progress.total_steps, phase)
        else:
            progress = progress.model_copy(update={"phase": phase})
        event: dict[str, Any] = {"type": EventType.PHASE_CHANGED, "message": message}
        if shot_index is not None:
            event["shot_index"] = shot_index
        attempt.job = await self.store.update(attempt.job, progress=progress, events=[event])

    async def _generate(self, attempt: Attempt, index: int, shot: Shot) -> ShotFrames:
        request = shot_request(attempt, index, shot, self.settings, bool(self.model.info.adapter_id))
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
                            progress=progress_at(
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
            raise Retry(f"the model replica was lost during shot {index}: {error}") from error
        except GenerationFailed as error:
            raise Failure(
                JobError(code=ErrorCode.GENERATION_FAILED, message=f"shot {index}: {error}", shot_index=index)
            ) from error
        if result is None:
            raise Retry(f"the model stream for shot {index} ended without frames")
        return result

    async def _record_shot(self, attempt: Attempt, index: int, shot: Shot, frames: ShotFrames) -> None:
        job = attempt.job
        clip = await asyncio.to_thread(stitching.encode_mp4, frames.frames, shot.playback_fps)
        character_ids = [c.character_id for c in shot.characters]
        published = await self.publisher.publish(
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
        attempt.clips[index] = published.signed.clip
        result = ShotResult(
            shot_index=index,
            clip_object_id=published.clip_id,
            generated_asset_id=published.asset_id,
            seed=frames.seed,
            identity_scores=tuple(published.scores),
            flagged=bool(published.flags),
            flag_reasons=tuple(published.flags),
            model_s=frames.model_s,
        )
        events: list[dict[str, Any]] = [
            {"type": EventType.SHOT_FINISHED, "message": f"shot {index} finished", "shot_index": index,
             "shot_result": result}
        ]  # fmt: skip
        warnings = list(job.warnings)
        if published.flags:
            warning = JobWarning(
                kind=WarningKind.SHOT_FLAGGED,
                shot_index=index,
                message=f"shot {index} flagged: {'; '.join(published.flags)}",
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
            flagged=job.flagged or bool(published.flags),
            warnings=warnings,
            scoring_model_pack_id=published.pack or job.scoring_model_pack_id,
            progress=progress_at(attempt, index + 1, 0, 0),
            events=events,
        )

    async def _finish(self, attempt: Attempt) -> None:
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
                progress=progress_at(attempt, len(job.storyboard.shots), 0, 0),
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
                    raise peer_failure(error, ErrorCode.STORAGE_FAILED) from error
            clips.append(clip)
        fps = job.storyboard.shots[0].playback_fps
        crossfade = None
        if job.storyboard.transition is Transition.CROSSFADE:
            crossfade = job.storyboard.crossfade_s or DEFAULT_CROSSFADE_S
        await self._phase(attempt, Phase.STITCHING, None, f"joining {len(clips)} shots")
        stitched = await asyncio.to_thread(stitch_clips, clips, fps, crossfade)
        await self._phase(attempt, Phase.SIGNING, None, "signing and storing the stitched clip")
        character_ids = job.storyboard.character_ids()
        published = await self.publisher.publish(
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
        if published.flags:
            warning = JobWarning(
                kind=WarningKind.SHOT_FLAGGED, message=f"final clip flagged: {'; '.join(published.flags)}"
            )
            warnings.append(warning)
            events.append({"type": EventType.WARNING, "message": warning.message, "warning": warning})
        events.append({"type": EventType.STATE_CHANGED, "message": "job succeeded"})
        attempt.job = await self.store.update(
            job,
            state=JobState.SUCCEEDED,
            final_identity_scores=published.scores,
            flagged=job.flagged or bool(published.flags),
            warnings=warnings,
            generated_asset_id=published.asset_id,
            clip_object_id=published.clip_id,
            scoring_model_pack_id=published.pack or job.scoring_model_pack_id,
            progress=Progress(
                shot_index=len(job.storyboard.shots) - 1, shot_count=len(job.storyboard.shots), fraction=1.0
            ),
            events=events,
        )
