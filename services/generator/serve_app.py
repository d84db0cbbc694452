"""The Ray Serve application "video": deployment ``VideoModel`` holding the Wan 2.2 model.

``app`` is the application builder that the RayService's serveConfigV2 names
(``likeness.generator.serve_app:app``); its args are :class:`VideoModelArgs` (``variant`` "a14b" or
"tiny", ``model_dir``, and the replica settings). :func:`run_local` starts it in a local Ray for the
generator service on one machine and for tests, and returns the handle.

The deployment's methods are the contract in :mod:`likeness.generator.shots`:

- ``generate(ShotRequest)`` streams a ``StepProgress`` after every denoising step, then one
  ``ShotFrames``. Call it with ``handle.options(stream=True)``. The pipeline runs in a thread; when the
  caller cancels the response (``response.cancel()``), the replica's generator gets ``CancelledError``,
  sets the request's interrupt flag, and the pipeline stops at the end of the step in progress. The
  replica waits for that before it takes the next request.
- ``synthesize(SynthesisRequest) -> ShotFrames`` and ``describe() -> ModelInfo``.
- ``stats() -> ReplicaStats``: what the replica has run (for operators and tests).

One request at a time per replica (``max_ongoing_requests`` 1 by default): the identity adapter keeps the
running request's identities on its attention processors, and the model serialises requests with a lock
in any case. A full queue (``max_queued_requests``) makes the caller's handle raise Serve's
``BackPressureError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve.handle import DeploymentHandle

from likeness.generator.shots import ModelInfo, ShotFrames, ShotRequest, StepProgress, SynthesisRequest

log = logging.getLogger(__name__)

APP_NAME = "video"
#: Seconds a replica that lost a rank waits for the failing request's error to go out before it exits.
LEAVE_AFTER_S = 0.5
DEPLOYMENT_NAME = "VideoModel"


class VideoModelArgs(BaseModel):
    """The application builder's args (serveConfigV2 ``args``)."""

    model_config = ConfigDict(extra="forbid")

    #: "a14b": Wan 2.2 A14B weights from ``model_dir``; "tiny": the random tiny model on the CPU.
    variant: Literal["a14b", "tiny"] = "tiny"
    #: A local diffusers pipeline directory (model_index.json; optional vace/ and identity adapter).
    model_dir: str = ""
    #: ``s3://bucket/prefix`` to mirror into ``model_dir`` first (endpoint and keys from the replica's
    #: LIKENESS_MODEL_S3_* environment); empty: ``model_dir`` already holds the weights.
    weights_uri: str = ""
    #: The identity adapter's safetensors file; empty: ``model_dir``'s, if it has one.
    adapter_path: str = ""
    num_replicas: int = Field(1, ge=1)
    #: Requests one replica runs at once; more than 1 only queues them on the replica's lock.
    max_ongoing_requests: int = Field(1, ge=1)
    #: Requests waiting per caller before its handle raises BackPressureError; -1: unbounded.
    max_queued_requests: int = Field(8, ge=-1)
    #: GPUs per replica. With 2 or more, the replica runs one torch.distributed rank per GPU, each
    #: holding the whole model, and every shot uses all of them (context + CFG parallel).
    num_gpus: float = Field(0, ge=0)
    num_cpus: float = Field(1, ge=0)
    #: Ranks per replica; 0: one per GPU when num_gpus >= 2, else the model runs in the replica itself.
    #: On a replica without GPUs, ranks >= 2 are CPU processes on gloo (tests, and the tiny model).
    ranks: int = Field(0, ge=0, le=64)
    #: With an even number of ranks, run the conditional and unconditional passes on two halves.
    cfg_parallel: bool = True
    #: Regional compilation of every expert's blocks (torch.compile), warmed before the replica serves.
    compile: bool = False
    #: torchao float8 dynamic row-wise linears in the experts' blocks (Hopper and newer; changes outputs
    #: by a few percent, so it is opt-in).
    fp8: bool = False
    #: diffusers' attention backend by name ("native", "_native_cudnn", "flash", ...); empty: native.
    attention_backend: str = ""
    #: The kernel under PyTorch's flash attention: "" PyTorch's own, "FA4" (flash-attn-4, Hopper and
    #: Blackwell), "FA3", or "auto" (FA4 where it runs, else PyTorch's own). See kernels.py.
    flash_attention: Literal["", "auto", "FA3", "FA4"] = ""
    #: With compile: inductor tunes its generated kernels' launch settings (coordinate descent). On an
    #: H100 at 480p it took a compiled guided step from 5.205 s to 5.173 s and a cold compilation from
    #: 20 s to 37 s (benchmarks/generator_gpu.py --tuned); the inductor cache keeps the tuned kernels.
    tuned_kernels: bool = False
    #: Serve the fast preset: MagCache step caching on both text-to-video experts (fastcache.py), with
    #: the model directory's calibrated curves (fast_cache.json) or the published Wan 2.2 A14B ones.
    fast_preset: bool = True
    #: Sizes (height, width, frames) the replica denoises once, two steps with guidance, before it
    #: takes traffic, so that compilation and kernel selection do not fall on the first user.
    warmup_sizes: list[tuple[int, int, int]] = Field(default_factory=list)
    #: Seconds between Serve's health checks of a replica (a dead rank fails the next one).
    health_check_period_s: float = Field(10.0, gt=0)
    #: The tiny model's weight seed.
    seed: int = 0

    @property
    def rank_count(self) -> int:
        if self.ranks:
            return self.ranks
        gpus = int(self.num_gpus)
        return gpus if gpus >= 2 else 1


@dataclass(frozen=True)
class ReplicaStats:
    """What one replica has done."""

    started: int = 0
    completed: int = 0
    cancelled: int = 0
    failed: int = 0
    #: Denoising steps the last generate request ran.
    last_steps_run: int = 0
    #: Steps finished when the last cancellation arrived (-1: the last request was not cancelled).
    last_cancelled_at_step: int = -1
    #: The process ids of the replica's ranks; empty when the model runs in the replica itself.
    rank_pids: tuple[int, ...] = ()


def fetch_weights(args: VideoModelArgs) -> None:
    """Mirror ``weights_uri`` into ``model_dir`` when one is set (once per replica, before its ranks)."""
    if args.variant == "a14b" and not args.model_dir:
        raise ValueError("variant a14b needs model_dir")
    if args.weights_uri:
        from likeness.generator.model.weights import WeightsLocation, client_from_environment, fetch_prefix

        fetch_prefix(client_from_environment(), WeightsLocation.parse(args.weights_uri), Path(args.model_dir))


def build_model(arguments: dict[str, Any], device: Any = None) -> Any:
    """The blocking model on ``device`` (every visible GPU, or the CPU, when None); heavy imports happen
    here, inside the replica or its rank. A picklable rank builder with ``functools.partial``."""
    from likeness.generator.model.loading import Placement
    from likeness.generator.model.video import WanVideoModel

    args = VideoModelArgs.model_validate(arguments)
    if args.variant == "tiny":
        from likeness.generator.model.adapter import IdentityAdapter

        adapter = IdentityAdapter.load(args.adapter_path) if args.adapter_path else None
        return WanVideoModel.tiny(args.seed, fast=args.fast_preset, adapter=adapter)
    placement = Placement.for_devices([device]) if device is not None else None
    return WanVideoModel.from_pretrained(
        args.model_dir, placement=placement, adapter_path=args.adapter_path or None, fast=args.fast_preset
    )


def prepare_model(arguments: dict[str, Any], model: Any) -> None:
    """Speed settings and the warm-up, on the replica's model or on each of its ranks."""
    args = VideoModelArgs.model_validate(arguments)
    kernel = model.optimise(
        compile=args.compile,
        fp8=args.fp8,
        attention_backend=args.attention_backend or None,
        flash_attention=args.flash_attention,
        tuned_kernels=args.tuned_kernels,
    )
    if args.flash_attention:
        log.info("flash attention kernel: %s", kernel or "PyTorch's own")
    for height, width, frames in args.warmup_sizes:
        started = time.perf_counter()
        model.warm_up(height=height, width=width, num_frames=frames)
        log.info(
            "warmed up %dx%d x %d frames in %.1f s", height, width, frames, time.perf_counter() - started
        )


def load_model(args: VideoModelArgs) -> Any:
    """The model this replica serves: in-process, or a group of rank processes (see ranks.py for why
    processes the replica spawns)."""
    fetch_weights(args)
    arguments = args.model_dump()
    if args.rank_count < 2:
        model = build_model(arguments)
        prepare_model(arguments, model)
        return model
    from likeness.generator.model.ranks import RankGroup

    return RankGroup.start(
        args.rank_count,
        functools.partial(build_model, arguments),
        device_type="cuda" if args.num_gpus else "cpu",
        cfg_parallel=args.cfg_parallel,
        prepare=functools.partial(prepare_model, arguments),
    )


@serve.deployment(name=DEPLOYMENT_NAME, max_ongoing_requests=1, max_queued_requests=8)
class VideoModel:
    """Wan 2.2 with the identity adapter; one request at a time per replica."""

    def __init__(self, args: dict[str, Any]) -> None:
        self._args = VideoModelArgs.model_validate(args)
        self._model = load_model(self._args)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="denoise")
        self._stats = ReplicaStats()
        self._stats_lock = threading.Lock()
        log.info("VideoModel ready: %s", self._model.info)

    def _count(self, **changes: int) -> None:
        with self._stats_lock:
            current = self._stats
            updates: dict[str, Any] = {
                name: (
                    getattr(current, name) + value
                    if name in {"started", "completed", "cancelled", "failed"}
                    else value
                )
                for name, value in changes.items()
            }
            self._stats = replace(current, **updates)

    async def generate(self, request: ShotRequest) -> AsyncIterator[StepProgress | ShotFrames]:
        from likeness.generator.model.video import DenoisingInterrupted

        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StepProgress] = asyncio.Queue()
        interrupt = threading.Event()
        steps_done = 0
        last_sent = time.monotonic()

        def on_step(step: int, total: int) -> None:
            nonlocal steps_done, last_sent
            steps_done = step
            now = time.monotonic()
            if step >= total or now - last_sent >= request.progress_interval_s:
                last_sent = now
                loop.call_soon_threadsafe(events.put_nowait, StepProgress(step=step, total_steps=total))

        def compute() -> ShotFrames:
            started = time.perf_counter()
            frames: ShotFrames = self._model.generate(request, on_step=on_step, should_stop=interrupt.is_set)
            return replace(frames, model_s=time.perf_counter() - started)

        self._count(started=1, last_steps_run=0, last_cancelled_at_step=-1)
        run: asyncio.Future[Any] = loop.run_in_executor(self._executor, compute)
        try:
            while True:
                next_event = asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait({next_event, run}, return_when=asyncio.FIRST_COMPLETED)
                if next_event in done:
                    yield next_event.result()
                    continue
                next_event.cancel()
                while not events.empty():
                    yield events.get_nowait()
                frames: ShotFrames = run.result()
                self._count(completed=1, last_steps_run=steps_done)
                yield frames
                return
        except (asyncio.CancelledError, GeneratorExit):
            # The caller cancelled: stop at the end of the step in progress, and hold the replica until
            # the pipeline has let go of it.
            interrupt.set()
            cancelled_at = steps_done
            with contextlib.suppress(DenoisingInterrupted):
                await asyncio.shield(run)
            self._count(cancelled=1, last_steps_run=steps_done, last_cancelled_at_step=cancelled_at)
            log.info(
                "request %s cancelled after step %d, stopped after step %d",
                request.request_id,
                cancelled_at,
                steps_done,
            )
            raise
        except Exception:
            self._count(failed=1, last_steps_run=steps_done)
            self._leave_if_broken()
            raise

    async def synthesize(self, request: SynthesisRequest) -> ShotFrames:
        loop = asyncio.get_running_loop()
        try:
            frames: ShotFrames = await loop.run_in_executor(self._executor, self._model.synthesize, request)
        except Exception:
            self._leave_if_broken()
            raise
        return frames

    def _leave_if_broken(self) -> None:
        """A replica that lost a rank can serve nothing more. Its health check says so, but Serve would
        route requests to it until the next check; so the replica process ends itself a moment after the
        failing request's error has gone out (crash-only: Serve sees the actor die, sends requests to the
        other replicas or holds them, and starts a replacement). Its ranks are already stopped."""
        if getattr(self._model, "failure", None) is not None:
            log.error("leaving: %s", self._model.failure)
            asyncio.get_running_loop().call_later(LEAVE_AFTER_S, os._exit, 1)

    def describe(self) -> ModelInfo:
        info: ModelInfo = self._model.info
        return info

    def stats(self) -> ReplicaStats:
        with self._stats_lock:
            return replace(self._stats, rank_pids=tuple(getattr(self._model, "pids", list)()))

    def check_health(self) -> None:
        """Serve calls this periodically; a replica whose rank died is replaced."""
        failure = getattr(self._model, "failure", None)
        if failure is not None:
            raise RuntimeError(f"the replica lost a rank: {failure}")

    def __del__(self) -> None:
        close = getattr(getattr(self, "_model", None), "close", None)
        if close is not None:
            close()


def build(args: VideoModelArgs) -> Any:
    """The bound application for these args."""
    return VideoModel.options(  # type: ignore[attr-defined]
        num_replicas=args.num_replicas,
        max_ongoing_requests=args.max_ongoing_requests,
        max_queued_requests=args.max_queued_requests,
        ray_actor_options={"num_cpus": args.num_cpus, "num_gpus": args.num_gpus},
        health_check_period_s=args.health_check_period_s,
    ).bind(args.model_dump())


def app(args: dict[str, Any]) -> Any:
    """Serve application builder (``serve run likeness.generator.serve_app:app variant=tiny``)."""
    return build(VideoModelArgs.model_validate(args))


def start_local_ray(num_cpus: int = 2, attempts: int = 3) -> None:
    """A Ray on loopback with no dashboard, unless this process is already connected to one.

    On a busy machine a fresh head now and then fails to come up: its GCS never binds its port, or its
    raylet misses the start-up deadline (Ray raises a RuntimeError or a bare Exception after 30 s). Such
    a head is shut down and started again, up to ``attempts`` times, before the error stands.
    """
    import ray

    for attempt in range(1, attempts + 1):
        if ray.is_initialized():
            return
        try:
            ray.init(
                num_cpus=num_cpus,
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                configure_logging=False,
                log_to_driver=False,
            )
        except Exception as error:  # Ray's start-up timeouts are RuntimeError or plain Exception
            ray.shutdown()
            if attempt == attempts:
                raise
            log.warning("the local Ray did not start (%s); starting it again", error)


def run_local(
    variant: Literal["a14b", "tiny"] = "tiny",
    model_dir: str = "",
    *,
    name: str = APP_NAME,
    ray_num_cpus: int = 2,
    **settings: Any,
) -> DeploymentHandle[Any]:
    """Start the application in a local Ray (started if needed, HTTP proxy off) and return its handle.

    ``settings`` are further :class:`VideoModelArgs` (num_replicas, max_queued_requests, ...).
    Generate with ``handle.options(stream=True).generate.remote(request)``.
    """
    start_local_ray(ray_num_cpus)
    serve.start(proxy_location="Disabled")
    args = VideoModelArgs(variant=variant, model_dir=model_dir, **settings)
    handle: DeploymentHandle[Any] = serve.run(build(args), name=name, route_prefix=None, blocking=False)
    return handle
