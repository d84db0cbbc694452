"""The job table: submission with idempotency keys, reads, cancellation, the event log and brands' job
limits. What a worker writes under a job's lease (claim, heartbeat, give-back, the fenced update) is in
:mod:`likeness.generator.leases`, which this store is built on; row mapping in
:mod:`likeness.generator.jobrows`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from likeness.db import fetch_one
from likeness.errors import AlreadyExists, FailedPrecondition, NotFound
from likeness.generator.admission import QueueLimits, queue_refusal
from likeness.generator.domain import (
    BrandQuota,
    EventType,
    Job,
    JobCharacter,
    JobEvent,
    JobState,
    JobWarning,
    ModelDescription,
    Progress,
    Submission,
)
from likeness.generator.jobrows import JOB_ROW, event_from_row, job_from_row, to_json
from likeness.generator.leases import CHECKING_MESSAGE, LeasedJobWrites, Signals

#: Events read at a time; a watcher that reads a full batch reads the next at once.
EVENTS_PER_READ = 500


def job_not_found(job_id: str) -> NotFound:
    # The same answer for an unknown id and another brand's job.
    return NotFound(f"job {job_id!r} not found", "job", job_id)


@dataclass(frozen=True)
class NewJob:
    """A submission that passed the gates, ready to be stored."""

    submission: Submission
    characters: tuple[JobCharacter, ...]
    warnings: tuple[JobWarning, ...]
    model: ModelDescription


class JobStore(LeasedJobWrites):
    def __init__(
        self,
        pool: AsyncConnectionPool,
        queries: dict[str, str],
        *,
        max_queued_jobs: int,
        watch_poll_s: float,
        max_queued_jobs_per_brand: int | None = None,
        max_running_jobs_per_brand: int = 0,
    ) -> None:
        self._pool = pool
        self._queries = {
            name: sql.replace("{columns}", queries["job_columns"])
            for name, sql in queries.items()
            if name != "job_columns"
        }
        self._limits = QueueLimits(max_queued_jobs, max_queued_jobs_per_brand or max_queued_jobs)
        #: How many of one brand's jobs run at once by default (0: no limit); brands may have their own.
        self._max_running_per_brand = max_running_jobs_per_brand
        self._watch_poll_s = watch_poll_s
        self._columns = queries["job_columns"]
        self._signals = Signals()
        #: Called with a job id when it is cancelled in this process (workers stop its GPU work).
        self.on_cancel: list[Any] = []

    @property
    def pool(self) -> AsyncConnectionPool:
        return self._pool

    # ---- submission and reads --------------------------------------------------------------------

    async def find_by_key(self, brand_id: str, idempotency_key: str, request_sha256: str) -> Job | None:
        """The job first submitted with this key, or None; ALREADY_EXISTS for a different request."""
        async with self._pool.connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(
                self._queries["job_by_key"], {"brand_id": brand_id, "idempotency_key": idempotency_key}
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        if row["request_sha256"] != request_sha256:
            raise AlreadyExists(
                f"idempotency key {idempotency_key!r} was already used for job {row['job_id']} with a "
                "different request; use a new key for a new request",
                "job",
                str(row["job_id"]),
            )
        return job_from_row(row)

    async def submit(
        self, new: NewJob, *, lease_to: str | None = None, lease_s: float = 0.0
    ) -> tuple[Job, bool]:
        """Store a queued job with its first events; a concurrent twin with the same key wins once.

        Returns the job (the existing one for a key already used) and whether this call leased it: with
        ``lease_to`` (the owner of an idle worker) a new job is claimed for that owner in the same
        transaction, unless another job is waiting for a worker. It is then ``checking``, under a lease of
        ``lease_s``, and the owner must run it at once or give it back.
        """
        job_id = str(uuid.uuid4())
        request = new.submission
        progress = Progress(shot_count=len(request.storyboard.shots))
        # Pipelined: the queue count and the insert in one round trip, the events and commit in another;
        # a full queue rolls the insert back.
        async with self._pool.connection() as connection, connection.pipeline():
            async with connection.transaction():
                await connection.execute(self._queries["lock_queue"])
                if lease_to is not None:
                    await connection.execute(self._queries["lock_starts"])
                counter = await connection.execute(
                    self._queries["count_queued"], {"brand_id": request.brand_id}
                )
                inserter = connection.cursor(row_factory=dict_row)
                await inserter.execute(
                    self._queries["insert_job"],
                    {
                        "job_id": job_id,
                        "brand_id": request.brand_id,
                        "idempotency_key": request.idempotency_key,
                        "request_sha256": request.request_sha256,
                        "purpose": request.purpose,
                        "channel": request.channel,
                        "territory": request.territory,
                        "strict_attribute_check": request.strict_attribute_check,
                        "storyboard": to_json(request.storyboard),
                        "characters": to_json(new.characters),
                        "created_by": request.subject,
                        "progress": to_json(progress),
                        "warnings": to_json(new.warnings),
                        "model": to_json(new.model),
                        "lease_owner": lease_to,
                        "lease_s": lease_s,
                        "max_running_per_brand": self._max_running_per_brand,
                    },
                )
                queued = await counter.fetchone()
                inserted = await inserter.fetchone()
                leased = inserted is not None and inserted["state"] == JobState.CHECKING.value
                # The count ran before the insert, so it does not include this job.
                if queued is not None:
                    refusal = queue_refusal(self._limits, request.brand_id, queued[0], queued[1], queued[2])
                    if refusal is not None:
                        raise refusal
                if inserted is not None:
                    await self._append(
                        connection, job_id, EventType.STATE_CHANGED, JobState.QUEUED, progress, "job queued"
                    )
                    for warning in new.warnings:
                        await self._append(
                            connection,
                            job_id,
                            EventType.WARNING,
                            JobState.QUEUED,
                            progress,
                            warning.message,
                            shot_index=warning.shot_index,
                            warning=warning,
                        )
                    if leased:
                        await self._append(
                            connection,
                            job_id,
                            EventType.STATE_CHANGED,
                            JobState.CHECKING,
                            progress,
                            CHECKING_MESSAGE,
                        )
        if inserted is None:
            existing = await self.find_by_key(
                request.brand_id, request.idempotency_key, request.request_sha256
            )
            if existing is None:  # pragma: no cover - the conflicting row cannot vanish
                raise RuntimeError("job with a conflicting key disappeared")
            return existing, False
        # Watchers in this process wake once the events are committed, not before.
        self._signals.notify(job_id)
        job = job_from_row(inserted)
        events = 1 + len(new.warnings) + leased
        return job.model_copy(update={"last_event_sequence": events}), leased

    async def get(self, brand_id: str, job_id: str) -> Job:
        async with self._pool.connection() as connection:
            return await self._get(connection, brand_id, job_id)

    async def _get(self, connection: AsyncConnection, brand_id: str, job_id: str, lock: bool = False) -> Job:
        params = {"brand_id": brand_id, "job_id": job_id}
        return await fetch_one(
            connection, JOB_ROW, self._queries["get_job"], params, job_not_found(job_id), lock=lock
        )

    async def get_by_id(self, job_id: str) -> Job:
        """A job of any brand: for workers, never for callers."""
        async with self._pool.connection() as connection:
            query, params = self._queries["get_job_by_id"], {"job_id": job_id}
            return await fetch_one(connection, JOB_ROW, query, params, job_not_found(job_id))

    async def list_jobs(
        self,
        brand_id: str,
        state: JobState | None,
        page: Mapping[str, Any],
    ) -> list[Job]:
        """The brand's jobs from a page's position (``after_time``, ``after_id``; ``limit``)."""
        async with self._pool.connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            params = {"brand_id": brand_id, "state": state.value if state is not None else None, **page}
            await cursor.execute(self._queries["list_jobs"], params)
            return [job_from_row(row) for row in await cursor.fetchall()]

    async def cancel(self, brand_id: str, job_id: str) -> Job:
        async with self._pool.connection() as connection:
            async with connection.transaction():
                job = await self._get(connection, brand_id, job_id, lock=True)
                if job.state is JobState.CANCELLED:
                    return job
                if not job.state.may_become(JobState.CANCELLED):
                    raise FailedPrecondition(
                        f"job {job_id} already {job.state.value}; only unfinished jobs can be cancelled"
                    )
                await connection.execute(self._queries["cancel_job"], {"job_id": job_id})
                await self._append(
                    connection,
                    job_id,
                    EventType.STATE_CHANGED,
                    JobState.CANCELLED,
                    job.progress,
                    "job cancelled",
                )
        self._signals.notify(job_id)
        for callback in self.on_cancel:
            callback(job_id)
        return await self.get(brand_id, job_id)

    # ---- events ------------------------------------------------------------------------------------

    async def events_after(self, job_id: str, after: int, limit: int = EVENTS_PER_READ) -> list[JobEvent]:
        async with self._pool.connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(
                self._queries["events_after"], {"job_id": job_id, "after": after, "limit": limit}
            )
            return [event_from_row(row) for row in await cursor.fetchall()]

    async def watch(self, brand_id: str, job_id: str, from_sequence: int) -> AsyncIterator[JobEvent]:
        """Stored events above ``from_sequence``, then new ones, until the one that ends the job.

        New events are found by polling the table every ``watch_poll_s``, and at once when they are
        written by this process. Polling rather than LISTEN/NOTIFY: the writer may be another replica,
        and a poll needs no connection held per watcher (LISTEN does), costs one indexed range read,
        and cannot miss an event the way a notification sent while a watcher reconnects can.
        """
        job = await self.get(brand_id, job_id)
        after = from_sequence
        while True:
            waiter = self._signals.waiter(job_id)
            events = await self.events_after(job_id, after)
            for event in events:
                yield event
                after = event.sequence
                if event.type is EventType.STATE_CHANGED and event.state.terminal:
                    return
            if len(events) == EVENTS_PER_READ:
                continue
            # A job that ended before the watch began may have no event above ``from_sequence``.
            if job.state.terminal and job.last_event_sequence <= after:
                return
            try:
                await asyncio.wait_for(waiter.wait(), self._watch_poll_s)
            except TimeoutError:
                # Nothing woke the watcher: look at the job itself as well as its events.
                job = await self.get(brand_id, job_id)

    # ---- workers -----------------------------------------------------------------------------------

    async def quota(self, brand_id: str) -> BrandQuota:
        """The brand's job limits in force (its own or the defaults) and its use of them now."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(self._queries["brand_quota"], {"brand_id": brand_id})
            row = await cursor.fetchone()
        queued_limit, running_limit, queued, running = row if row is not None else (None, None, 0, 0)
        return BrandQuota(
            max_queued_jobs=self._limits.max_queued_per_brand if queued_limit is None else queued_limit,
            max_running_jobs=self._max_running_per_brand if running_limit is None else running_limit,
            max_queued_jobs_is_override=queued_limit is not None,
            max_running_jobs_is_override=running_limit is not None,
            queued_jobs=queued,
            running_jobs=running,
        )

    async def set_quota(
        self, brand_id: str, max_queued_jobs: int | None, max_running_jobs: int | None, updated_by: str
    ) -> BrandQuota:
        """Store the brand's own limits (None: back to the default)."""
        async with self._pool.connection() as connection:
            await connection.execute(
                self._queries["set_brand_quota"],
                {"brand_id": brand_id, "max_queued_jobs": max_queued_jobs,
                 "max_running_jobs": max_running_jobs, "updated_by": updated_by},
            )  # fmt: skip
        return await self.quota(brand_id)
