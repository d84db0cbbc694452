"""The generator's workers: asyncio tasks in the generator process that take jobs from the table under
a lease and run attempts at them (``pipeline.py``), and what an attempt's outcome means for the job.

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
import logging
import uuid

from likeness.errors import ResourceExhausted
from likeness.generator.attempt import Attempt, Failure, Retry
from likeness.generator.domain import ErrorCode, EventType, Job, JobError, JobState
from likeness.generator.jobs import JobStore
from likeness.generator.leases import LeaseLost
from likeness.generator.pipeline import JobPipeline
from likeness.generator.settings import GeneratorSettings

logger = logging.getLogger("likeness.generator.scheduler")


async def give_back(store: JobStore, job: Job, reason: str) -> None:
    """Release the job's lease, its attempt not counted; if that fails the lease runs out on its own and
    any worker takes the job after that."""
    try:
        await store.release(job, reason, refund=True)
    except Exception:
        logger.warning("giving back a job's lease failed", extra={"job_id": job.job_id}, exc_info=True)


class WorkerPool:
    """``settings.workers`` workers sharing one store, model and peers."""

    def __init__(self, store: JobStore, pipeline: JobPipeline, settings: GeneratorSettings) -> None:
        self.store = store
        self.pipeline = pipeline
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
        await give_back(self.store, job, "")
        self.wake()

    @property
    def idle(self) -> int:
        """Workers waiting for a job now."""
        return self._idle

    def _worker_free(self) -> bool:
        """An idle worker that no handed-over job is already waking."""
        return not self._stopping and self._idle > len(self._handed)

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
            await give_back(self.store, self._handed.popleft(), "the generator shut down")
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
        task = asyncio.create_task(self._attempt(job, last_failure), name=f"job-{job.job_id}")
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
            await give_back(self.store, job, "the generator shut down during the job")

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

    async def _attempt(self, job: Job, last_failure: str) -> None:
        """One attempt at the job, and what its outcome means: the job fails, goes back for another
        attempt after a back-off, or goes back at once when only capacity was missing."""
        attempt = Attempt(job)
        try:
            await self.pipeline.execute(attempt, last_failure)
        except LeaseLost:
            logger.info("job left to its new holder", extra={"job_id": job.job_id})
        except Failure as failure:
            await self._fail(attempt, failure.error)
        except Retry as retry:
            if await self._retry(attempt, str(retry)):
                self.wake()
        except ResourceExhausted:
            # Every replica is busy: not the job's fault, so the attempt is not counted.
            await asyncio.sleep(self.settings.poll_s)
            await give_back(self.store, attempt.job, "the video model was busy")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("job failed unexpectedly", extra={"job_id": job.job_id})
            await self._fail(attempt, JobError(code=ErrorCode.INTERNAL, message=f"unexpected error: {error}"))

    async def _fail(self, attempt: Attempt, error: JobError) -> None:
        if attempt.job.state.terminal:
            # It finished before the error (the lease ended with it): nothing is left to fail.
            logger.warning("error after the job finished", extra={"job_id": attempt.job.job_id})
            return
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

    async def _retry(self, attempt: Attempt, reason: str) -> bool:
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
            return False
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
        return True

    # ---- the job ----------------------------------------------------------------------------------
