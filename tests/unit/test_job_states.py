"""The job state machine: the rule in the domain, and the job store refusing what it does not allow
before it reaches the database (the pipeline's own paths keep to it: its fake store asserts the rule)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from likeness.generator.domain import ACTIVE_STATES, JobState
from likeness.generator.jobs import JobStore
from tests.unit.test_pipeline import job

pytestmark = pytest.mark.unit

FINISHED = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


def test_a_finished_job_never_changes_and_an_unfinished_one_may_always_stop() -> None:
    for finished in FINISHED:
        assert not any(finished.may_become(state) for state in JobState), finished
    for active in ACTIVE_STATES:
        assert active.may_become(JobState.CANCELLED) and active.may_become(JobState.FAILED), active


def test_a_job_moves_forward_through_the_gates_its_shots_and_scoring_only() -> None:
    reachable = {state: {new for new in JobState if state.may_become(new)} for state in JobState}
    assert reachable[JobState.QUEUED] - {JobState.CANCELLED, JobState.FAILED} == {JobState.CHECKING}
    # Nothing goes back to the queue: a given-back attempt keeps its state and the next resumes it.
    assert not any(JobState.QUEUED in each for each in reachable.values())
    # Only scoring publishes: no job succeeds without its clip scored and marked.
    assert {state for state, each in reachable.items() if JobState.SUCCEEDED in each} == {JobState.SCORING}
    assert not JobState.RUNNING.may_become(JobState.CHECKING)
    assert not JobState.SCORING.may_become(JobState.RUNNING)


async def test_the_store_refuses_a_change_the_machine_does_not_allow_before_any_query() -> None:
    # No pool at all: a query would fail with AttributeError, so the refusal comes first.
    store = JobStore(cast(Any, None), {"job_columns": "job_id"}, max_queued_jobs=1, watch_poll_s=1.0)
    with pytest.raises(ValueError, match="cannot go from succeeded to running"):
        await store.update(job(state=JobState.SUCCEEDED), state=JobState.RUNNING)
    with pytest.raises(ValueError, match="cannot go from queued to scoring"):
        await store.update(job(state=JobState.QUEUED), state=JobState.SCORING)
    with pytest.raises(AttributeError):  # an allowed change goes on to the database
        await store.update(job(state=JobState.SCORING), state=JobState.SUCCEEDED)
