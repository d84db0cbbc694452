"""The video model as the job workers see it: a Ray Serve application reached through a streaming
``DeploymentHandle`` (see ``likeness.generator.shots`` for what crosses the boundary).

With no Ray address configured, the generator starts a local Ray on loopback (no dashboard) and
deploys the tiny random-weights application itself, so one machine needs nothing else. With one, it
attaches a driver to the model's cluster: through the Ray node that runs beside it (``ray_node_temp_dir``;
in Kubernetes a sidecar container of its pod) where its host runs no other node of that cluster. Serve's
streaming ``DeploymentHandle`` calls need a driver on a node of the cluster: Ray Client (``ray://``)
refuses them ("Streaming DeploymentHandles are not currently supported when connected to a remote Ray
cluster using Ray Client", ray-project/ray#43357, closed as won't fix).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from likeness.errors import QuotaViolation, ResourceExhausted
from likeness.generator.model.ranks import RankFailed
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
        if isinstance(cause, RankFailed):
            # A rank of the replica died: the replica fails its health check and is replaced, so the
            # same request can succeed on a replica that is whole.
            return ReplicaLost(f"the replica lost a rank: {str(cause).splitlines()[-1]}")
        return GenerationFailed(
            f"{type(cause).__name__}: {str(cause).splitlines()[-1] if str(cause) else ''}"
        )
    return GenerationFailed(f"{type(error).__name__}: {error}")


class ServeVideoModel:
    """A handle to the ``VideoModel`` deployment of one Serve application."""

    def __init__(self, handle: Any, info: ModelInfo, release: Callable[[], None] | None = None) -> None:
        self._handle = handle
        self.info = info
        #: What this process started to reach the model (a local Ray, or a node of the model's
        #: cluster), and so stops when it closes; None when it started nothing.
        self._release = release

    @classmethod
    async def connect(cls, settings: GeneratorSettings) -> ServeVideoModel:
        handle, release = await asyncio.to_thread(_connect, settings)
        try:
            info: ModelInfo = await handle.describe.remote()
        except BaseException:
            if release is not None:
                await asyncio.to_thread(release)
            raise
        logger.info(
            "video model connected",
            extra={
                "model_id": info.model_id,
                "adapter_id": info.adapter_id,
                "random_weights": info.random_weights,
            },
        )
        return cls(handle, info, release)

    async def close(self) -> None:
        """Stop what this process started to reach the model; a shared or remote Ray is left running."""
        if self._release is not None:
            release, self._release = self._release, None
            await asyncio.to_thread(release)

    async def generate(self, request: ShotRequest) -> AsyncIterator[StepProgress | ShotFrames]:
        """Progress after every step, then the frames. Closing or cancelling the iterator cancels the
        request on the replica, which stops denoising at its next step."""
        response = None
        try:
            # Inside the try: the router may refuse the request at once (back-pressure) as well as
            # while it streams.
            response = self._handle.options(stream=True).generate.remote(request)
            async for item in response:
                yield item
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise _translate(error) from error
        finally:
            # Serve does not cancel the replica's work when the caller stops awaiting; this does. A
            # request the router refused has nothing to cancel, and cancelling it must not replace the
            # refusal with its own error.
            if response is not None:
                with contextlib.suppress(Exception):
                    response.cancel()

    async def synthesize(self, request: SynthesisRequest) -> ShotFrames:
        response = None
        try:
            response = self._handle.synthesize.remote(request)
            frames: ShotFrames = await response
        except asyncio.CancelledError:
            if response is not None:
                response.cancel()
            raise
        except Exception as error:
            raise _translate(error) from error
        return frames


def _connect(settings: GeneratorSettings) -> tuple[Any, Callable[[], None] | None]:
    """The deployment's handle, and how to stop what this call started (None: nothing)."""
    import ray
    from ray import serve

    release: Callable[[], None] | None = None
    if settings.ray_address:
        if not ray.is_initialized():
            release = _attach(settings)
    elif not (ray.is_initialized() and settings.serve_app_name in serve.status().applications):
        # Imported only here: the application pulls in torch and diffusers when it deploys, which a
        # generator that reaches a remote cluster does not need.
        serve_app = importlib.import_module("likeness.generator.serve_app")
        if not ray.is_initialized():
            release = _shutdown_local_ray
        serve_app.start_local_ray(settings.local_ray_cpus)
        if settings.serve_app_name not in serve.status().applications:
            serve_app.run_local(
                name=settings.serve_app_name,
                ray_num_cpus=settings.local_ray_cpus,
                **local_model_args(settings),
            )
    return serve.get_deployment_handle(DEPLOYMENT, app_name=settings.serve_app_name), release


def _attach(settings: GeneratorSettings) -> Callable[[], None]:
    """A driver in the model's cluster; through the node beside this process when ``ray_node_temp_dir``
    names one (Ray Client cannot carry Serve's streaming handle calls, so the driver needs a node of the
    cluster on its own host; that node is not this process's to run: its pod's sidecar runs it)."""
    import ray

    if not settings.ray_node_temp_dir:
        ray.init(address=settings.ray_address, logging_level=logging.WARNING, log_to_driver=False)
        return ray.shutdown
    temp_dir = Path(settings.ray_node_temp_dir)
    if not wait_for_node(temp_dir, settings.ray_node_wait_s):
        raise RuntimeError(
            f"could not join the model's Ray cluster at {settings.ray_address}: no Ray node came up under "
            f"{temp_dir} within {settings.ray_node_wait_s:.0f} s (the node beside the generator, started "
            "with --temp-dir there; its own log says why it did not start)"
        )
    # Waits for the node to register with the cluster (Ray's own timeout, about a minute).
    ray.init(
        address=settings.ray_address,
        _node_ip_address=settings.ray_node_ip or None,
        _temp_dir=str(temp_dir),
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    logger.info(
        "attached to the model's Ray cluster through the node beside this process",
        extra={"ray_address": settings.ray_address, "node_id": ray.get_runtime_context().get_node_id()},
    )
    return ray.shutdown


def wait_for_node(temp_dir: Path, timeout_s: float, poll_s: float = 0.2) -> bool:
    """Whether a Ray node's raylet is up under ``temp_dir`` (its socket exists) within ``timeout_s``: the
    node beside the generator may still be starting when the generator does."""
    deadline = time.monotonic() + timeout_s
    while True:
        if any(temp_dir.glob("session_*/sockets/raylet")):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


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
