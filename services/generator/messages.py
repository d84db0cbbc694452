"""The generator's contract at its gRPC edge: requests decoded into the domain, the domain encoded into
responses. Enums go by name (``likeness.rpc.enums``); no contract number is kept here."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeVar

from google.protobuf import timestamp_pb2

from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.errors import (
    FieldViolation,
    InvalidArgument,
)
from likeness.generator.domain import (
    IdentityScore,
    Job,
    JobError,
    JobEvent,
    JobState,
    JobWarning,
    ModelDescription,
    Preset,
    Progress,
    Region,
    Shot,
    ShotCharacter,
    ShotResult,
    Storyboard,
    Transition,
)
from likeness.rpc.enums import from_proto, to_proto

E = TypeVar("E", bound=enum.Enum)


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


# ---- requests → domain ------------------------------------------------------------------------------


def storyboard_from(message: pb.Storyboard) -> Storyboard:
    shots = []
    for shot in message.shots:
        characters = []
        for character in shot.characters:
            region = None
            if character.HasField("region"):
                area = character.region
                region = Region(x=area.x, y=area.y, width=area.width, height=area.height)
            characters.append(
                ShotCharacter(
                    character_id=character.character_id,
                    identity_version=character.identity_version,
                    identity_strength=(
                        character.identity_strength if character.HasField("identity_strength") else None
                    ),
                    use_reference_images=character.use_reference_images,
                    reference_conditioning_scale=(
                        character.reference_conditioning_scale
                        if character.HasField("reference_conditioning_scale")
                        else None
                    ),
                    region=region,
                )
            )
        shots.append(
            Shot(
                prompt=shot.prompt,
                negative_prompt=shot.negative_prompt,
                num_frames=shot.num_frames,
                resolution=shot.resolution,
                fps=shot.fps,
                seed=shot.seed if shot.HasField("seed") else None,
                guidance_scale=shot.guidance_scale if shot.HasField("guidance_scale") else None,
                num_inference_steps=shot.num_inference_steps,
                characters=tuple(characters),
                preset=from_proto(pb.SpeedPreset, shot.preset, Preset) or Preset.FINAL,
            )
        )
    crossfade = None
    if message.HasField("stitching") and message.stitching.HasField("crossfade_duration"):
        crossfade = message.stitching.crossfade_duration.ToTimedelta().total_seconds()
    return Storyboard(
        shots=tuple(shots),
        transition=(
            from_proto(pb.Transition, message.stitching.transition, Transition)
            if message.HasField("stitching")
            else None
        ),
        crossfade_s=crossfade,
        qa_similarity_threshold=(
            message.qa_similarity_threshold if message.HasField("qa_similarity_threshold") else None
        ),
    )


def required(value: E | None, field: str) -> E:
    """A required enum field (the contract's rules refuse UNSPECIFIED before the handler runs)."""
    if value is None:
        raise InvalidArgument(f"{field} is required", [FieldViolation(field, "must be set")])
    return value


# ---- domain → responses -----------------------------------------------------------------------------


def storyboard_message(storyboard: Storyboard) -> pb.Storyboard:
    message = pb.Storyboard()
    for shot in storyboard.shots:
        shot_message = message.shots.add(
            prompt=shot.prompt,
            negative_prompt=shot.negative_prompt,
            num_frames=shot.num_frames,
            resolution=shot.resolution,
            fps=shot.fps,
            num_inference_steps=shot.num_inference_steps,
            preset=to_proto(pb.SpeedPreset, shot.preset),
        )
        if shot.seed is not None:
            shot_message.seed = shot.seed
        if shot.guidance_scale is not None:
            shot_message.guidance_scale = shot.guidance_scale
        for character in shot.characters:
            item = shot_message.characters.add(
                character_id=character.character_id,
                identity_version=character.identity_version,
                use_reference_images=character.use_reference_images,
            )
            if character.identity_strength is not None:
                item.identity_strength = character.identity_strength
            if character.reference_conditioning_scale is not None:
                item.reference_conditioning_scale = character.reference_conditioning_scale
            if character.region is not None:
                item.region.CopyFrom(
                    pb.ScreenRegion(
                        x=character.region.x,
                        y=character.region.y,
                        width=character.region.width,
                        height=character.region.height,
                    )
                )
    if storyboard.transition is not None or storyboard.crossfade_s is not None:
        message.stitching.transition = to_proto(pb.Transition, storyboard.transition)
        if storyboard.crossfade_s is not None:
            message.stitching.crossfade_duration.FromNanoseconds(round(storyboard.crossfade_s * 1e9))
    if storyboard.qa_similarity_threshold is not None:
        message.qa_similarity_threshold = storyboard.qa_similarity_threshold
    return message


def progress_message(progress: Progress) -> pb.JobProgress:
    message = pb.JobProgress(
        shot_index=progress.shot_index,
        shot_count=progress.shot_count,
        step=progress.step,
        total_steps=progress.total_steps,
        fraction=progress.fraction,
    )
    if progress.phase is not None:
        message.phase = to_proto(pb.JobPhase, progress.phase)
    if progress.shot_remaining_s is not None:
        message.shot_remaining.FromNanoseconds(round(progress.shot_remaining_s * 1e9))
    if progress.job_remaining_s is not None:
        message.job_remaining.FromNanoseconds(round(progress.job_remaining_s * 1e9))
    return message


def warning_message(warning: JobWarning) -> pb.JobWarning:
    message = pb.JobWarning(
        kind=to_proto(pb.JobWarningKind, warning.kind),
        character_id=warning.character_id,
        message=warning.message,
    )
    if warning.shot_index is not None:
        message.shot_index = warning.shot_index
    return message


def error_message(error: JobError) -> pb.JobError:
    message = pb.JobError(
        code=to_proto(pb.JobErrorCode, error.code),
        message=error.message,
        character_id=error.character_id,
    )
    if error.shot_index is not None:
        message.shot_index = error.shot_index
    return message


def score_message(score: IdentityScore) -> pb.CharacterIdentityScore:
    return pb.CharacterIdentityScore(
        character_id=score.character_id,
        identity_version=score.identity_version,
        no_face_fraction=score.no_face_fraction,
        **score.similarities(),
    )


def shot_result_message(result: ShotResult) -> pb.ShotResult:
    message = pb.ShotResult(
        shot_index=result.shot_index,
        clip_object_id=result.clip_object_id,
        generated_asset_id=result.generated_asset_id,
        seed=result.seed,
        identity_scores=[score_message(score) for score in result.identity_scores],
        flagged=result.flagged,
        flag_reasons=list(result.flag_reasons),
    )
    message.model_time.FromNanoseconds(round(result.model_s * 1e9))
    return message


def model_message(model: ModelDescription) -> pb.ModelDescription:
    return pb.ModelDescription(
        model_id=model.model_id,
        adapter_id=model.adapter_id,
        random_weights=model.random_weights,
        presets=[to_proto(pb.SpeedPreset, preset) for preset in model.presets],
    )


def job_message(job: Job, full: bool = True) -> pb.Job:
    message = pb.Job(
        job_id=job.job_id,
        idempotency_key=job.idempotency_key,
        state=to_proto(pb.JobState, job.state),
        purpose=to_proto(usage_pb2.UsagePurpose, job.purpose),
        channel=to_proto(usage_pb2.UsageChannel, job.channel),
        territory=job.territory,
        strict_attribute_check=job.strict_attribute_check,
        characters=[
            pb.JobCharacter(
                character_id=c.character_id, identity_version=c.identity_version, consent_id=c.consent_id
            )
            for c in job.characters
        ],
        created_by=job.created_by,
        create_time=_timestamp(job.created_at),
        progress=progress_message(job.progress),
        warnings=[warning_message(warning) for warning in job.warnings],
        final_identity_scores=[score_message(score) for score in job.final_identity_scores],
        flagged=job.flagged,
        generated_asset_id=job.generated_asset_id,
        clip_object_id=job.clip_object_id,
        random_weights=job.model.random_weights,
        model=model_message(job.model),
        scoring_model_pack_id=job.scoring_model_pack_id,
        last_event_sequence=job.last_event_sequence,
    )
    if full:
        message.storyboard.CopyFrom(storyboard_message(job.storyboard))
        message.shot_results.extend(
            shot_result_message(result) for result in sorted(job.shot_results, key=lambda r: r.shot_index)
        )
    if job.started_at is not None:
        message.start_time.CopyFrom(_timestamp(job.started_at))
    if job.finished_at is not None:
        message.finish_time.CopyFrom(_timestamp(job.finished_at))
    if job.error is not None and job.state is JobState.FAILED:
        message.error.CopyFrom(error_message(job.error))
    return message


def event_message(event: JobEvent) -> pb.JobEvent:
    message = pb.JobEvent(
        sequence=event.sequence,
        event_time=_timestamp(event.event_time),
        type=to_proto(pb.JobEventType, event.type),
        state=to_proto(pb.JobState, event.state),
        progress=progress_message(event.progress),
        message=event.message,
    )
    if event.shot_index is not None:
        message.shot_index = event.shot_index
    if event.warning is not None:
        message.warning.CopyFrom(warning_message(event.warning))
    if event.shot_result is not None:
        message.shot_result.CopyFrom(shot_result_message(event.shot_result))
    if event.error is not None:
        message.error.CopyFrom(error_message(event.error))
    return message
