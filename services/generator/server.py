"""gRPC edge of the generator service: decode requests, call the job store, gates and model, encode
responses. The job workers run in this process (``likeness.generator.scheduler``)."""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.api.generator.v1 import generator_service_pb2_grpc
from likeness.db import load_queries, migrate, open_pool
from likeness.errors import (
    Unavailable,
)
from likeness.generator import provenance, stitching
from likeness.generator.domain import (
    RESOLUTIONS,
    JobState,
    StoredKind,
    Submission,
    UsageChannel,
    UsagePurpose,
)
from likeness.generator.jobs import JobStore
from likeness.generator.messages import (
    event_message,
    job_message,
    model_message,
    required,
    storyboard_from,
)
from likeness.generator.peers import SERVICE_SUBJECT, PeerError, Peers
from likeness.generator.pipeline import JobPipeline
from likeness.generator.scheduler import WorkerPool
from likeness.generator.settings import GeneratorSettings
from likeness.generator.shots import SynthesisRequest
from likeness.generator.submission import (
    RANDOM_WEIGHTS_NOTICE,
    SubmitGeneration,
    model_description,
)
from likeness.generator.videomodel import ServeVideoModel
from likeness.pagination import BY_TIME_AND_ID, page_size, time_and_id
from likeness.rpc.access import method_roles
from likeness.rpc.auth import ServiceTokens, current_principal, first_signing_key
from likeness.rpc.enums import from_proto
from likeness.rpc.interceptors import Context
from likeness.rpc.server import ServiceSpec

SERVICE = pb.DESCRIPTOR.services_by_name["GeneratorService"]
SYNTHETIC_NOTICE = (
    "AI-generated images of a person who does not exist, made from a text description; they are "
    "registered as synthetic references (purpose SYNTHETIC_REFERENCE)."
)

logger = logging.getLogger("likeness.generator")

ROLES = method_roles(SERVICE)


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
                purpose=required(
                    from_proto(usage_pb2.UsagePurpose, request.purpose, UsagePurpose), "purpose"
                ),
                channel=required(
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
        limit = page_size(request.page_size)
        bound = BY_TIME_AND_ID.bound(request.page_token, filters, limit)
        rows = await self._runtime.store.list_jobs(brand_id, state, bound)
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
