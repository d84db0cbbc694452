"""The video model as the job workers see it: a Ray Serve application reached through a streaming
``DeploymentHandle`` (see ``likeness.generator.shots`` for what crosses the boundary).

With no Ray address configured, the generator starts a local Ray on loopback (no dashboard) and
deploys the tiny random-weights application itself, so one machine needs nothing else.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from likeness.errors import QuotaViolation, ResourceExhausted
from likeness.generator.settings import GeneratorSettings
from likeness.generator.shots import ModelInfo, ShotFrames, ShotRequest, StepProgress, SynthesisRequest

logger = logging.getLogger("likeness.generator.videomodel")

DEPLOYMENT = "VideoModel"


class ReplicaLost(Exception):
    """The replica running the call died or became unreachable; the work may be retried."""


class GenerationFailed(Exception):
    """The model raised an error for this request; retrying the same request will not help."""


def queue_full() -> ResourceExhausted:
    return ResourceExhausted(
        "the video model's queue is full; retry later",
        [QuotaViolation("generator/model_queue", "every replica's queue is full")],
    )


def _translate(error: BaseException) -> BaseException:
    from ray import exceptions as ray_exceptions
    from ray.serve.exceptions import BackPressureError

    if isinstance(error, BackPressureError):
        return queue_full()
    if isinstance(
        error,
        (
            ray_exceptions.RayActorError,
            ray_exceptions.ActorUnavailableError,
            ray_exceptions.NodeDiedError,
            ray_exceptions.WorkerCrashedError,
        ),
    ):
        return ReplicaLost(str(error).splitlines()[0] if str(error) else type(error).__name__)
    if isinstance(error, ray_exceptions.RayTaskError):
        cause = error.as_instanceof_cause()  # type: ignore[no-untyped-call]
        return GenerationFailed(
            f"{type(cause).__name__}: {str(cause).splitlines()[-1] if str(cause) else ''}"
        )
    return GenerationFailed(f"{type(error).__name__}: {error}")


class ServeVideoModel:
    """A handle to the ``VideoModel`` deployment of one Serve application."""

    def __init__(self, handle: Any, info: ModelInfo, owns_ray: bool = False) -> None:
        self._handle = handle
        self.info = info
        #: This process started the local Ray (and the application in it), so it stops them.
        self.owns_ray = owns_ray

    @classmethod
    async def connect(cls, settings: GeneratorSettings) -> ServeVideoModel:
        handle, owns_ray = await asyncio.to_thread(_connect, settings)
        info: ModelInfo = await handle.describe.remote()
        logger.info(
            "video model connected",
            extra={
                "model_id": info.model_id,
                "adapter_id": info.adapter_id,
                "random_weights": info.random_weights,
            },
        )
        return cls(handle, info, owns_ray)

    async def close(self) -> None:
        """Stop the local Ray if this process started it; a shared or remote one is left running."""
        if self.owns_ray:
            await asyncio.to_thread(_shutdown_local_ray)

    async def generate(self, request: ShotRequest) -> AsyncIterator[StepProgress | ShotFrames]:
        """Progress after every step, then the frames. Closing or cancelling the iterator cancels the
        request on the replica, which stops denoising at its next step."""
        response = self._handle.options(stream=True).generate.remote(request)
        try:
            async for item in response:
                yield item
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise _translate(error) from error
        finally:
            # Serve does not cancel the replica's work when the caller stops awaiting; this does.
            response.cancel()

    async def synthesize(self, request: SynthesisRequest) -> ShotFrames:
        response = self._handle.synthesize.remote(request)
        try:
            frames: ShotFrames = await response
        except asyncio.CancelledError:
            response.cancel()
            raise
        except Exception as error:
            raise _translate(error) from error
        return frames


def _connect(settings: GeneratorSettings) -> tuple[Any, bool]:
    """The deployment's handle, and whether this call started the local Ray."""
    import ray
    from ray import serve

    owns_ray = False
    if settings.ray_address:
        if not ray.is_initialized():
            ray.init(address=settings.ray_address, logging_level=logging.WARNING)
    elif not (ray.is_initialized() and settings.serve_app_name in serve.status().applications):
        # Imported only here: the application pulls in torch and diffusers when it deploys, which a
        # generator that reaches a remote cluster does not need.
        serve_app = importlib.import_module("likeness.generator.serve_app")
        owns_ray = not ray.is_initialized()
        serve_app.start_local_ray(settings.local_ray_cpus)
        if settings.serve_app_name not in serve.status().applications:
            serve_app.run_local(
                name=settings.serve_app_name,
                ray_num_cpus=settings.local_ray_cpus,
                **local_model_args(settings),
            )
    return serve.get_deployment_handle(DEPLOYMENT, app_name=settings.serve_app_name), owns_ray


def local_model_args(settings: GeneratorSettings) -> dict[str, Any]:
    """The local Serve application's model (VideoModelArgs): the weights in ``local_model_dir``, or the
    tiny random-weights model when none is set."""
    return {
        "variant": "a14b" if settings.local_model_dir else "tiny",
        "model_dir": settings.local_model_dir,
        "weights_uri": settings.local_weights_uri,
        "adapter_path": settings.local_adapter_path,
        "num_replicas": settings.local_replicas,
        "max_queued_requests": settings.local_max_queued_requests,
        "num_gpus": settings.local_gpus_per_replica,
    }


def _shutdown_local_ray() -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()  # type: ignore[no-untyped-call]
    finally:
        ray.shutdown()
