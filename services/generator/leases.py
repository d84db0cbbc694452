"""The writes a worker makes to a job under its lease: the claim, the heartbeat, giving the job back, and
the fenced update of its state, progress and results (with events). :class:`~likeness.generator.jobs.
JobStore` is built on this class, which also holds the event log's append that every write shares.

Every write is fenced by the lease (``lease_id``): once the lease has expired and another worker has taken
the job, or the job was cancelled, the write changes nothing and raises :class:`LeaseLost`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from likeness.generator.domain import EventType, Job, JobError, JobState, JobWarning, Progress, ShotResult
from likeness.generator.jobrows import NOW, job_from_row, to_json, update_columns

CHECKING_MESSAGE = "checking characters and consent"
_TRANSIENT_EVENTS = frozenset({EventType.PROGRESS, EventType.LOG, EventType.SHOT_STARTED})


class LeaseLost(Exception):
    """The worker no longer holds the job: its lease was taken over, or the job was cancelled."""


@dataclass
class Signals:
    """Wakes the watchers of a job in this process when one of its events is committed here."""

    events: dict[str, asyncio.Event] = field(default_factory=dict)

    def notify(self, job_id: str) -> None:
        event = self.events.pop(job_id, None)
        if event is not None:
            event.set()

    def waiter(self, job_id: str) -> asyncio.Event:
        return self.events.setdefault(job_id, asyncio.Event())


class LeasedJobWrites:
    """What a worker writes under a job's lease, and the event append shared with every write."""

    _pool: AsyncConnectionPool
    _queries: dict[str, str]
    _columns: str
    _signals: Signals
    _max_running_per_brand: int

    async def _append(
        self,
        connection: AsyncConnection,
        job_id: str,
        event_type: EventType,
        state: JobState,
        progress: Progress,
        message: str = "",
        *,
        shot_index: int | None = None,
        warning: JobWarning | None = None,
        shot_result: ShotResult | None = None,
        error: JobError | None = None,
    ) -> None:
        """Queue one event in the caller's transaction; in a pipeline it costs no round trip of its own."""
        await connection.execute(
            self._queries["append_event"],
            {
                "job_id": job_id,
                "type": event_type.value,
                "state": state.value,
                "progress": to_json(progress),
                "message": message,
                "shot_index": shot_index,
                "warning": to_json(warning),
                "shot_result": to_json(shot_result),
                "error": to_json(error),
            },
        )

    async def claim(self, owner: str, lease_s: float) -> tuple[Job, str] | None:
        """Take the oldest runnable job whose lease is free; returns it with the previous failure.

        A queued job comes back already ``checking``, with its event, in the claim's transaction.
        """
        async with self._pool.connection() as connection, connection.pipeline(), connection.transaction():
            await connection.execute(self._queries["lock_starts"])
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(
                self._queries["claim_job"],
                {"owner": owner, "lease_s": lease_s, "max_running_per_brand": self._max_running_per_brand},
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            job = job_from_row(row)
            if row["previous_state"] == JobState.QUEUED.value:
                await self._append(
                    connection,
                    job.job_id,
                    EventType.STATE_CHANGED,
                    JobState.CHECKING,
                    job.progress,
                    CHECKING_MESSAGE,
                )
                job = job.model_copy(update={"last_event_sequence": job.last_event_sequence + 1})
        self._signals.notify(job.job_id)
        return job, str(row["last_failure"])

    async def heartbeat(self, job: Job, lease_s: float) -> None:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                self._queries["heartbeat"],
                {"job_id": job.job_id, "lease_id": job.lease_id, "lease_s": lease_s},
            )
            if await cursor.fetchone() is None:
                raise LeaseLost(job.job_id)

    async def release(self, job: Job, reason: str, refund: bool = False) -> None:
        """Give the job back for another attempt; ``refund`` when the attempt was not the job's fault."""
        async with self._pool.connection() as connection:
            await connection.execute(
                self._queries["release_lease"],
                {"job_id": job.job_id, "lease_id": job.lease_id, "reason": reason, "refund": refund},
            )

    async def update(
        self,
        job: Job,
        *,
        state: JobState | None = None,
        progress: Progress | None = None,
        events: Iterable[dict[str, Any]] = (),
        end_lease: bool = False,
        **columns: Any,
    ) -> Job:
        """Change the job under the worker's lease and append events, in one transaction.

        ``events`` are keyword sets for one event each (``type``, ``message``, ``shot_index``,
        ``warning``, ``shot_result``, ``error``); each records the state and progress after the change.
        """
        if state is not None and state is not job.state and not job.state.may_become(state):
            raise ValueError(f"job {job.job_id} cannot go from {job.state.value} to {state.value}")
        assignments: dict[str, Any] = {key: value for key, value in columns.items()}
        if state is not None:
            assignments["state"] = state.value
            if state is not JobState.QUEUED and job.started_at is None:
                assignments["started_at"] = NOW
            if state.terminal:
                assignments["finished_at"] = NOW
                end_lease = True
        if progress is not None:
            assignments["progress"] = progress
        if end_lease:
            assignments.update(lease_id=None, lease_owner=None, lease_expires_at=None)
        new_state = state or job.state
        new_progress = progress or job.progress
        events = list(events)
        # Progress and log lines are worth no disk flush: a database crash may lose the last few, and
        # the attempt that resumes the job writes its own. Every other change waits for the flush.
        transient = not assignments.keys() - {"progress"} and all(
            event["type"] in _TRANSIENT_EVENTS for event in events
        )
        # Pipelined: the events, then the fenced change (whose row is read back), then the commit;
        # two round trips. A lost lease rolls the events back with it.
        async with self._pool.connection() as connection, connection.pipeline(), connection.transaction():
            if transient:
                await connection.execute(self._queries["async_commit"])
            for event in events:
                details = {key: value for key, value in event.items() if key != "type"}
                await self._append(connection, job.job_id, event["type"], new_state, new_progress, **details)
            if assignments:
                row = await update_columns(connection, job.job_id, job.lease_id, assignments, self._columns)
            else:
                reader = connection.cursor(row_factory=dict_row)
                await reader.execute(
                    self._queries["lock_leased_job"], {"job_id": job.job_id, "lease_id": job.lease_id}
                )
                row = await reader.fetchone()
            if row is None:
                raise LeaseLost(job.job_id)
        self._signals.notify(job.job_id)
        updated = job_from_row(row)
        return updated.model_copy(update={"lease_id": None if end_lease else job.lease_id})
