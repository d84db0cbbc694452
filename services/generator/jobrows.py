"""How jobs and their events are stored: rows to domain models, values to JSON columns, and the
fenced column update a worker makes under its lease."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row, kwargs_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from likeness.generator.domain import Job, JobEvent


def to_json(value: Any) -> Jsonb | None:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return Jsonb(value.model_dump(mode="json"))
    if isinstance(value, (list, tuple)):
        return Jsonb(
            [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
        )
    return Jsonb(value)


def job_from_row(row: Mapping[str, Any]) -> Job:
    fields = {key: row[key] for key in Job.model_fields if key in row}
    return Job.model_validate(fields)


def _job_of_columns(**columns: Any) -> Job:
    return job_from_row(columns)


#: A cursor's row factory that reads a jobs row as a Job.
JOB_ROW = kwargs_row(_job_of_columns)


def event_from_row(row: Mapping[str, Any]) -> JobEvent:
    return JobEvent.model_validate(dict(row))


class _Now:
    """Marks a column set to the database's now()."""


#: A column set to the database's now().
NOW = _Now()


_UPDATABLE = {
    "state",
    "started_at",
    "finished_at",
    "progress",
    "warnings",
    "error",
    "shot_results",
    "final_identity_scores",
    "flagged",
    "generated_asset_id",
    "clip_object_id",
    "scoring_model_pack_id",
    "characters",
    "lease_id",
    "lease_owner",
    "lease_expires_at",
}


async def update_columns(
    connection: AsyncConnection,
    job_id: str,
    lease_id: str | None,
    assignments: dict[str, Any],
    columns: str,
) -> dict[str, Any] | None:
    """Set columns of a job still held under ``lease_id``; the row after, or None when the lease is gone."""
    parts = []
    values: dict[str, Any] = {"job_id": job_id, "fence": lease_id}
    for column, value in assignments.items():
        if column not in _UPDATABLE:
            raise ValueError(f"column {column!r} cannot be updated by a worker")
        if value is NOW:
            parts.append(f"{column} = now()")
            continue
        parts.append(f"{column} = %({column})s")
        if isinstance(value, (BaseModel, list, tuple)):
            values[column] = to_json(value)
        else:
            values[column] = value
    cursor = connection.cursor(row_factory=dict_row)
    await cursor.execute(
        f"UPDATE jobs SET {', '.join(parts)} WHERE job_id = %(job_id)s AND lease_id = %(fence)s"
        f" AND state IN ('queued', 'checking', 'running', 'scoring') RETURNING {columns}",
        values,
    )
    return await cursor.fetchone()
