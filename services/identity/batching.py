"""A micro-batcher: worker threads per model gather work from concurrent requests.

A batch closes when it is full or when ``window_s`` has passed since its first item, so a lone
request waits at most the window while a busy server runs full batches. A fixed, small number of
worker threads per model (each session single- or few-threaded, from settings) keeps the cores busy
without many request threads oversubscribing them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from likeness.errors import QuotaViolation, ResourceExhausted, Unavailable

logger = logging.getLogger("likeness.identity.batching")

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

_STOP = object()


class MicroBatcher(Generic[ItemT, ResultT]):
    """Runs ``run_batch(items) -> results`` (same length, same order) on batches of submitted items."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[ItemT]], Sequence[ResultT]],
        *,
        max_batch: int,
        window_s: float,
        max_queued: int,
        workers: int = 1,
    ) -> None:
        self.name = name
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._window_s = window_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queued)
        self._threads = [
            threading.Thread(target=self._work, name=f"likeness-{name}-{number}", daemon=True)
            for number in range(workers)
        ]
        self._counter_lock = threading.Lock()
        self._stopped = False
        self.batches_run = 0
        self.items_run = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Finish queued work, then end the worker."""
        if self._stopped:
            return
        self._stopped = True
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join()

    def submit(self, item: ItemT) -> Future[ResultT]:
        if self._stopped:
            raise Unavailable(f"the {self.name} worker is shutting down; retry on another replica")
        future: Future[ResultT] = Future()
        try:
            self._queue.put_nowait((item, future))
        except queue.Full:
            raise ResourceExhausted(
                f"the {self.name} model is saturated; retry with backoff",
                [QuotaViolation(subject=self.name, description="queued work is at its limit")],
            ) from None
        return future

    async def run(self, items: Sequence[ItemT]) -> list[ResultT]:
        """Submit every item at once (so they can share batches) and wait for all results."""
        futures = [self.submit(item) for item in items]
        try:
            return list(await asyncio.gather(*(asyncio.wrap_future(future) for future in futures)))
        finally:
            for future in futures:
                future.cancel()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._window_s
            stop_after = False
            while len(batch) < self._max_batch:
                remaining = deadline - time.monotonic()
                try:
                    entry = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stop_after = True
                    break
                batch.append(entry)
            self._execute(batch)  # type: ignore[arg-type]
            if stop_after:
                return

    def _execute(self, batch: list[tuple[ItemT, Future[ResultT]]]) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._run_batch([item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(live)} items")
        except Exception as error:
            logger.exception("batch failed", extra={"worker": self.name, "items": len(live)})
            for _, future in live:
                future.set_exception(error)
            return
        with self._counter_lock:
            self.batches_run += 1
            self.items_run += len(live)
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)
