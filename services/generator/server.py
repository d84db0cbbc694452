"""gRPC edge of the generator service: decode requests, call the job store, gates and model, encode
responses. The job workers run in this process (``likeness.generator.scheduler``)."""

from __future__ import annotations

import enum
import hashlib
import logging
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf import timestamp_pb2
from psycopg_pool import AsyncConnectionPool

from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.api.generator.v1 import generator_service_pb2_grpc
from likeness.db import load_queries, migrate, open_pool
from likeness.errors import (
    FieldViolation,
    InvalidArgument,
    Unavailable,
)
from likeness.generator import provenance, stitching
from likeness.generator.domain import (
    RESOLUTIONS,
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
    StoredKind,
    Storyboard,
    Transition,
    UsageChannel,
    UsagePurpose,
)
from likeness.generator.jobs import JobStore
from likeness.generator.peers import SERVICE_SUBJECT, PeerError, Peers
from likeness.generator.pipeline import JobPipeline
from likeness.generator.scheduler import WorkerPool
from likeness.generator.settings import GeneratorSettings
from likeness.generator.shots import SynthesisRequest
from likeness.generator.submission import (
    RANDOM_WEIGHTS_NOTICE,
    Submission,
    SubmitGeneration,
    model_description,
)
from likeness.generator.videomodel import ServeVideoModel
from likeness.pagination import BY_TIME_AND_ID, page_size, time_and_id
from likeness.rpc.access import method_roles
from likeness.rpc.auth import ServiceTokens, current_principal, first_signing_key
from likeness.rpc.enums import from_proto, to_proto
from likeness.rpc.interceptors import Context
from likeness.rpc.server import ServiceSpec

SERVICE = pb.DESCRIPTOR.services_by_name["GeneratorService"]
SYNTHETIC_NOTICE = (
    "AI-generated images of a person who does not exist, made from a text description; they are "
    "registered as synthetic references (purpose SYNTHETIC_REFERENCE)."
)

logger = logging.getLogger("likeness.generator")
E = TypeVar("E", bound=enum.Enum)

ROLES = method_roles(SERVICE)


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


def _required(value: E | None, field: str) -> E:
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
    message = pb.CharacterIdentityScore(
        character_id=score.character_id,
        identity_version=score.identity_version,
        no_face_fraction=score.no_face_fraction,
    )
    if score.mean_similarity is not None:
        message.mean_similarity = score.mean_similarity
    if score.min_similarity is not None:
        message.min_similarity = score.min_similarity
    if score.p10_similarity is not None:
        message.p10_similarity = score.p10_similarity
    return message


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


# ---- the servicer ------------------------------------------------------------------------------------


@dataclass
class Runtime:
    """Everything the servicer needs once start-up is done."""

    pool: AsyncConnectionPool
    store: JobStore
    peers: Peers
    model: ServeVideoModel
    workers: WorkerPool
    submit: SubmitGeneration


class GeneratorServicer(generator_service_pb2_grpc.GeneratorServiceServicer):
    """Durable generation jobs on the Ray Serve model."""

    def __init__(self, settings: GeneratorSettings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None

    @property
    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise Unavailable("the generator is starting; retry shortly")
        return self.runtime

    async def SubmitGeneration(
        self, request: pb.SubmitGenerationRequest, context: Context
    ) -> pb.SubmitGenerationResponse:
        principal = current_principal()
        job = await self._runtime.submit(
            Submission(
                brand_id=principal.brand_id,
                subject=principal.subject,
                idempotency_key=request.idempotency_key,
                request_sha256=hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest(),
                purpose=_required(
                    from_proto(usage_pb2.UsagePurpose, request.purpose, UsagePurpose), "purpose"
                ),
                channel=_required(
                    from_proto(usage_pb2.UsageChannel, request.channel, UsageChannel), "channel"
                ),
                territory=request.territory,
                strict_attribute_check=request.strict_attribute_check,
                storyboard=storyboard_from(request.storyboard),
            )
        )
        return pb.SubmitGenerationResponse(job=job_message(job))

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.GetJobResponse:
        job = await self._runtime.store.get(current_principal().brand_id, request.job_id)
        return pb.GetJobResponse(job=job_message(job))

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        brand_id = current_principal().brand_id
        state = from_proto(pb.JobState, request.state, JobState)
        filters = {"state": state.value if state else ""}
        position = BY_TIME_AND_ID.after(request.page_token, filters)
        after = None if position is None else (position["t"].astimezone(UTC), str(position["id"]))
        limit = page_size(request.page_size)
        rows = await self._runtime.store.list_jobs(brand_id, state, after, limit + 1)
        jobs, token = BY_TIME_AND_ID.page(
            rows, limit, filters, lambda job: time_and_id(job.created_at, job.job_id)
        )
        return pb.ListJobsResponse(jobs=[job_message(job, full=False) for job in jobs], next_page_token=token)

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: Context
    ) -> AsyncIterator[pb.WatchJobResponse]:
        brand_id = current_principal().brand_id
        async for event in self._runtime.store.watch(brand_id, request.job_id, request.from_sequence):
            yield pb.WatchJobResponse(event=event_message(event))

    async def CancelJob(self, request: pb.CancelJobRequest, context: Context) -> pb.CancelJobResponse:
        job = await self._runtime.store.cancel(current_principal().brand_id, request.job_id)
        return pb.CancelJobResponse(job=job_message(job))

    async def GetBrandQuota(
        self, request: pb.GetBrandQuotaRequest, context: Context
    ) -> pb.GetBrandQuotaResponse:
        quota = await self._runtime.store.quota(current_principal().brand_id)
        return pb.GetBrandQuotaResponse(quota=pb.BrandQuota(**quota.model_dump()))

    async def SetBrandQuota(
        self, request: pb.SetBrandQuotaRequest, context: Context
    ) -> pb.SetBrandQuotaResponse:
        principal = current_principal()
        quota = await self._runtime.store.set_quota(
            principal.brand_id,
            request.max_queued_jobs if request.HasField("max_queued_jobs") else None,
            request.max_running_jobs if request.HasField("max_running_jobs") else None,
            principal.subject,
        )
        logger.info("brand quota set", extra={"brand_id": principal.brand_id, **quota.model_dump()})
        return pb.SetBrandQuotaResponse(quota=pb.BrandQuota(**quota.model_dump()))

    async def SynthesizeReference(
        self, request: pb.SynthesizeReferenceRequest, context: Context
    ) -> pb.SynthesizeReferenceResponse:
        runtime = self._runtime
        brand_id = current_principal().brand_id
        seed = request.seed if request.HasField("seed") else random.randrange(2**32 - request.count)  # noqa: S311
        height, width = self.settings.frame_size or RESOLUTIONS[request.resolution]
        frames = await runtime.model.synthesize(
            SynthesisRequest(
                request_id=str(uuid.uuid4()),
                description=request.description,
                count=request.count,
                seed=seed,
                height=height,
                width=width,
            )
        )
        object_ids = []
        for index, image in enumerate(frames.frames[: request.count]):
            try:
                object_ids.append(
                    await runtime.peers.upload(
                        brand_id,
                        StoredKind.SYNTHETIC_REFERENCE,
                        stitching.encode_png(image),
                        f"synthetic-reference-{seed + index}.png",
                        "image/png",
                    )
                )
            except PeerError as error:
                raise Unavailable(f"storing the images failed: {error.message}") from None
        info = frames.model
        return pb.SynthesizeReferenceResponse(
            image_object_ids=object_ids,
            seed=seed,
            synthetic_notice=SYNTHETIC_NOTICE
            + (f" Note: {RANDOM_WEIGHTS_NOTICE}." if info.random_weights else ""),
            random_weights=info.random_weights,
            model=model_message(model_description(info)),
        )


def signing_identity(settings: GeneratorSettings) -> provenance.SigningIdentity:
    if settings.c2pa_certificate_path and settings.c2pa_private_key_path:
        return provenance.load_signing_identity(
            settings.c2pa_certificate_path, settings.c2pa_private_key_path, settings.c2pa_trust_anchor_path
        )
    return provenance.development_identity(settings.c2pa_dev_dir)


def build_spec(settings: GeneratorSettings) -> ServiceSpec:
    servicer = GeneratorServicer(settings)  # type: ignore[abstract]

    async def start() -> None:
        if not settings.jwt_keys:
            raise ValueError("the generator needs a JWT key to call assets and identity")
        pool = await open_pool(settings)
        try:
            await migrate(settings, "likeness.generator")
            store = JobStore(
                pool,
                load_queries("likeness.generator"),
                max_queued_jobs=settings.max_queued_jobs,
                max_queued_jobs_per_brand=settings.max_queued_jobs_per_brand,
                max_running_jobs_per_brand=settings.max_running_jobs_per_brand,
                watch_poll_s=settings.watch_poll_s,
            )
            model = await ServeVideoModel.connect(settings)
            signing = signing_identity(settings)
        except BaseException:
            await pool.close()
            raise
        key = first_signing_key(settings.jwt_keys)
        if key is None:
            raise ValueError("the generator needs a JWT key that can sign (a secret or a private key)")
        tokens = ServiceTokens(key, settings.jwt_issuer, SERVICE_SUBJECT, settings.service_token_ttl_s)
        peers = Peers(settings.assets_address, settings.identity_address, tokens, settings.peer_timeout_s)
        workers = WorkerPool(store, JobPipeline(store, peers, model, signing, settings), settings)
        submit = SubmitGeneration(store, peers, model, workers, lease_s=settings.lease_s)
        servicer.runtime = Runtime(pool, store, peers, model, workers, submit)
        workers.start()

    async def stop() -> None:
        runtime = servicer.runtime
        if runtime is not None:
            await runtime.workers.stop()
            await runtime.peers.close()
            await runtime.pool.close()
            await runtime.model.close()

    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: generator_service_pb2_grpc.add_GeneratorServiceServicer_to_server(
            servicer, server
        ),
        method_roles=ROLES,
        start=start,
        stop=stop,
        brand_exists=lambda brand_id: servicer._runtime.peers.brand_exists(brand_id),
        servicer=servicer,
    )
