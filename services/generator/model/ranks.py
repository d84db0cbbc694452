"""A replica's rank processes: one torch.distributed rank per GPU (gloo ranks on CPUs), spawned and owned
by the replica.

Why processes the replica spawns rather than Ray actors in its placement group: the ranks live and die
with the replica's own process (each asks the kernel for SIGKILL when its parent dies, so no rank
outlives a replica that Serve kills), the replica sees a rank's death at once through its process
sentinel instead of through an actor call that hangs inside a collective, and the same code runs under
Serve, in the local stack and in tests with no Ray at all. Ray still places the replica: its
``num_gpus`` reserve the GPUs, and the ranks inherit ``CUDA_VISIBLE_DEVICES``.

:class:`RankGroup` has the blocking interface of :class:`~likeness.generator.model.video.WanVideoModel`
(``info``, ``generate``, ``synthesize``). Every request goes to every rank in the same order (each
rank's pipe is FIFO, and ranks answer before the next request is sent), so the ranks enter the same
collectives in lockstep; rank 0 streams progress and returns the frames. A rank that dies fails the
request in progress with :class:`RankFailed` naming it, stops the other ranks, and leaves the group
unhealthy for good (``failure``): the Serve replica's ``check_health`` then fails and Serve replaces it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a rank may take to load the model and join the group.
START_TIMEOUT_S = 1800.0


class RankFailed(RuntimeError):
    """A rank process died or could not start; the replica cannot serve any more."""


@dataclass(frozen=True)
class RankSpec:
    """What every rank process needs to start (pickled into it)."""

    world_size: int
    #: "cuda": rank r uses cuda:r of the replica's visible GPUs, NCCL; "cpu": gloo.
    device_type: str
    #: torch.distributed's rendezvous (a file in a directory the group owns).
    init_method: str
    #: Builds the rank's model on a device: a picklable callable (a module-level function or partial).
    build: Callable[[Any], Any]
    cfg_parallel: bool = True
    #: Called once on every rank after parallelism is enabled, with the model (warm-up, compilation).
    prepare: Callable[[Any], None] | None = None


def _die_with_parent() -> None:
    """Ask Linux for SIGKILL when the process that spawned this one dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _rank_main(rank: int, spec: RankSpec, pipe: Any) -> None:
    _die_with_parent()
    import torch
    import torch.distributed as dist

    from likeness.generator.model.parallel import ParallelLayout
    from likeness.generator.model.video import DenoisingInterrupted

    if spec.device_type == "cuda":
        device = torch.device("cuda", rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    dist.init_process_group(
        backend, init_method=spec.init_method, rank=rank, world_size=spec.world_size, device_id=None
    )
    try:
        model = spec.build(device)
        heads = model.pipeline.transformer.config.num_attention_heads
        layout = ParallelLayout.plan(spec.world_size, heads, cfg_parallel=spec.cfg_parallel)
        model.enable_parallelism(layout, device)
        if spec.prepare is not None:
            spec.prepare(model)
    except BaseException as error:
        pipe.send(("error", f"{type(error).__name__}: {error}"))
        raise
    pipe.send(("ready", (model.info, layout)))
    stop = threading.Event()
    while True:
        kind, payload = pipe.recv()
        if kind == "close":
            break
        if kind == "stop":  # a stop request that arrived after its request ended
            continue
        stop.clear()

        def on_step(step: int, total: int) -> None:
            if rank == 0:
                pipe.send(("step", (step, total)))

        def should_stop() -> bool:
            # The driver sends "stop" down every rank's pipe; ranks agree on it with a collective.
            while pipe.poll():
                message = pipe.recv()
                if message[0] == "stop":
                    stop.set()
                else:  # pragma: no cover - the driver sends nothing else while a request runs
                    raise RuntimeError(f"unexpected {message[0]!r} during a request")
            return stop.is_set()

        try:
            if kind == "generate":
                result = model.generate(payload, on_step=on_step, should_stop=should_stop)
            elif kind == "synthesize":
                result = model.synthesize(payload)
            elif kind == "denoise":
                requests, output_type = payload
                result = model.denoise(requests, should_stop=should_stop, output_type=output_type)
            else:
                raise ValueError(f"unknown request kind {kind!r}")
            pipe.send(("result", result if rank == 0 else None))
        except DenoisingInterrupted as interrupted:
            pipe.send(("interrupted", interrupted.steps_done))
        except Exception as error:  # noqa: BLE001 - the request's own error: every rank reports it, goes on
            pipe.send(("failed", (type(error).__name__, str(error))))
    dist.destroy_process_group()


class RankGroup:
    """N rank processes holding one model; see the module docstring."""

    def __init__(self, processes: list[Any], pipes: list[Any], workdir: Path) -> None:
        self._processes = processes
        self._pipes = pipes
        self._workdir = workdir
        self._lock = threading.Lock()
        self.failure: str | None = None
        self.info: Any = None
        self.layout: Any = None

    @classmethod
    def start(
        cls,
        world_size: int,
        build: Callable[[Any], Any],
        *,
        device_type: str = "cpu",
        cfg_parallel: bool = True,
        prepare: Callable[[Any], None] | None = None,
        timeout_s: float = START_TIMEOUT_S,
    ) -> RankGroup:
        """Spawn the ranks and wait until every one has its model; RankFailed if one cannot."""
        workdir = Path(tempfile.mkdtemp(prefix="likeness-ranks-"))
        spec = RankSpec(
            world_size=world_size,
            device_type=device_type,
            init_method=f"file://{workdir / 'rendezvous'}",
            build=build,
            cfg_parallel=cfg_parallel,
            prepare=prepare,
        )
        context = multiprocessing.get_context("spawn")
        processes, pipes = [], []
        for rank in range(world_size):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_rank_main, args=(rank, spec, theirs), name=f"likeness-rank-{rank}", daemon=True
            )
            process.start()
            theirs.close()
            processes.append(process)
            pipes.append(ours)
        group = cls(processes, pipes, workdir)
        try:
            replies = group._collect(timeout_s=timeout_s)
        except BaseException:
            group.close()
            raise
        errors = [payload for kind, payload in replies if kind == "error"]
        if errors:
            group.close()
            raise RankFailed(f"a rank could not start: {errors[0]}")
        group.info, group.layout = replies[0][1]
        log.info("rank group ready: %s", group.layout.describe())
        return group

    @property
    def world_size(self) -> int:
        return len(self._processes)

    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def _dead(self, ready: list[Any] | None = None) -> str | None:
        """Which rank has exited, if any; ``ready`` holds sentinels known to have fired (a process
        closes its sentinel a moment before it can be reaped, so those are joined, briefly)."""
        for rank, process in enumerate(self._processes):
            if ready is not None and process.sentinel in ready:
                process.join(timeout=10)
            if not process.is_alive():
                return f"rank {rank} (pid {process.pid}) exited with code {process.exitcode}"
        return None

    def _fail(self, reason: str) -> RankFailed:
        self.failure = reason
        log.error("rank group failed: %s", reason)
        self._kill()
        return RankFailed(reason)

    def _receive(self, rank: int, timeout_s: float | None, poll: bool = False) -> Any:
        """The next message from ``rank``, watching every rank's process while waiting; after
        ``timeout_s``, None when ``poll``, else the group fails."""
        pipe = self._pipes[rank]
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        sentinels = [process.sentinel for process in self._processes]
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait([pipe, *sentinels], timeout=left)
            if pipe in ready:
                try:
                    message: tuple[str, Any] = pipe.recv()
                except (EOFError, OSError):
                    raise self._fail(self._dead() or f"rank {rank} closed its pipe") from None
                return message
            if ready:
                raise self._fail(self._dead(ready) or "a rank exited")
            if deadline is not None and time.monotonic() >= deadline:
                if poll:
                    return None
                raise self._fail(f"rank {rank} did not answer within {timeout_s:.0f} s")

    def _collect(self, timeout_s: float | None = None) -> list[tuple[str, Any]]:
        return [self._receive(rank, timeout_s) for rank in range(self.world_size)]

    def _send_all(self, message: tuple[str, Any]) -> None:
        for rank, pipe in enumerate(self._pipes):
            try:
                pipe.send(message)
            except (BrokenPipeError, OSError):
                raise self._fail(self._dead() or f"rank {rank} closed its pipe") from None

    def _request(
        self,
        kind: str,
        payload: Any,
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Any:
        from likeness.generator.model.video import DenoisingInterrupted

        with self._lock:
            if self.failure is not None:
                raise RankFailed(self.failure)
            self._send_all((kind, payload))
            stop_sent = False
            while True:
                # Rank 0 reports progress; the others only answer at the end.
                message = self._receive(0, timeout_s=0.5 if should_stop is not None else None, poll=True)
                if message is not None and message[0] == "step":
                    if on_step is not None:
                        on_step(*message[1])
                elif message is not None:
                    break
                if should_stop is not None and not stop_sent and should_stop():
                    self._send_all(("stop", None))
                    stop_sent = True
            for rank in range(1, self.world_size):
                self._receive(rank, None)
        kind, result = message
        if kind == "result":
            return result
        if kind == "interrupted":
            raise DenoisingInterrupted(result)
        name, text = result
        # A request the model refuses (ValueError) stays that; anything else names its type.
        raise ValueError(text) if name == "ValueError" else RuntimeError(f"{name}: {text}")

    def generate(
        self,
        request: Any,
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Any:
        return self._request("generate", request, on_step, should_stop)

    def synthesize(self, request: Any) -> Any:
        return self._request("synthesize", request)

    def denoise(self, requests: list[Any], output_type: str = "np") -> Any:
        """The pipeline's own output on rank 0 (float frames, or latents): what exactness is checked on."""
        return self._request("denoise", (list(requests), output_type))

    def _kill(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.kill()
        for process in self._processes:
            process.join(timeout=10)

    def close(self) -> None:
        """Stop every rank (politely, then by force) and remove the rendezvous directory."""
        if self.failure is None:
            with contextlib.suppress(RankFailed):
                self._send_all(("close", None))
            for process in self._processes:
                process.join(timeout=30)
        self._kill()
        for pipe in self._pipes:
            pipe.close()
        with contextlib.suppress(OSError):
            for path in self._workdir.iterdir():
                path.unlink()
            self._workdir.rmdir()
