"""The submission use case on in-memory fakes of its ports: no database, no peers, no model."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from likeness.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from likeness.generator.domain import (
    Job,
    JobState,
    Progress,
    Shot,
    ShotCharacter,
    Storyboard,
    Submission,
    Transition,
    UsageChannel,
    UsagePurpose,
    WarningKind,
)
from likeness.generator.jobs import NewJob
from likeness.generator.peers import ConsentAnswer
from likeness.generator.shots import ModelInfo
from likeness.generator.submission import SubmitGeneration
from tests.unit.generator_fakes import MIA, FakeRegistry

pytestmark = pytest.mark.unit


class FakeJobs:
    """The job repository: jobs by (brand, idempotency key)."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], tuple[Job, str]] = {}
        self.leased_to: list[str | None] = []

    async def find_by_key(self, brand_id: str, idempotency_key: str, request_sha256: str) -> Job | None:
        found = self.jobs.get((brand_id, idempotency_key))
        if found is None:
            return None
        job, sha256 = found
        assert sha256 == request_sha256, "the use case relies on the repository for a reused key"
        return job

    async def submit(
        self, new: NewJob, *, lease_to: str | None = None, lease_s: float = 0.0
    ) -> tuple[Job, bool]:
        self.leased_to.append(lease_to)
        request = new.submission
        job = Job(
            job_id=f"job-{len(self.jobs) + 1}", brand_id=request.brand_id,
            idempotency_key=request.idempotency_key,
            state=JobState.CHECKING if lease_to else JobState.QUEUED, purpose=request.purpose,
            channel=request.channel, territory=request.territory,
            strict_attribute_check=request.strict_attribute_check, storyboard=request.storyboard,
            characters=new.characters, created_by=request.subject,
            created_at=datetime.now(UTC), started_at=None, finished_at=None,
            progress=Progress(shot_count=len(request.storyboard.shots)), warnings=new.warnings, error=None,
            shot_results=(), final_identity_scores=(), flagged=False, generated_asset_id="",
            clip_object_id="", model=new.model, scoring_model_pack_id="", last_event_sequence=1,
        )  # fmt: skip
        self.jobs[(request.brand_id, request.idempotency_key)] = (job, request.request_sha256)
        return job, lease_to is not None


@dataclasses.dataclass
class FakeModel:
    info: ModelInfo


@dataclasses.dataclass
class FakeDispatcher:
    idle: bool
    handed: list[str] = dataclasses.field(default_factory=list)
    woken: int = 0

    def offer(self) -> str | None:
        return "workers-a" if self.idle else None

    async def hand(self, job: Job) -> None:
        self.handed.append(job.job_id)

    def wake(self) -> None:
        self.woken += 1


def submission(key: str = "k1", **changes: object) -> Submission:
    shot = Shot(prompt="Mia walks on a beach", num_frames=17, characters=(ShotCharacter(character_id=MIA),))
    base = Submission(
        brand_id="acme", subject="ana", idempotency_key=key, request_sha256="a" * 64,
        purpose=UsagePurpose.ADVERTISING, channel=UsageChannel.TV,
        territory="FR", strict_attribute_check=False, storyboard=Storyboard(shots=(shot,)),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def use_case(
    jobs: FakeJobs, fake_peers: FakeRegistry, dispatcher: FakeDispatcher, random_weights: bool = False
) -> SubmitGeneration:
    model = FakeModel(ModelInfo(model_id="wan", adapter_id="adapter@1", random_weights=random_weights))
    return SubmitGeneration(jobs, fake_peers, model, dispatcher, lease_s=30.0)


async def test_a_passing_job_is_stored_with_its_pinned_characters_and_handed_to_an_idle_worker() -> None:
    jobs, dispatcher = FakeJobs(), FakeDispatcher(idle=True)
    job = await use_case(jobs, FakeRegistry(), dispatcher)(submission())
    assert job.state is JobState.CHECKING and dispatcher.handed == [job.job_id] and dispatcher.woken == 0
    assert [(c.character_id, c.identity_version) for c in job.characters] == [(MIA, 1)]
    assert jobs.leased_to == ["workers-a"] and job.created_by == "ana"


async def test_with_no_idle_worker_the_job_waits_and_the_workers_are_woken() -> None:
    jobs, dispatcher = FakeJobs(), FakeDispatcher(idle=False)
    job = await use_case(jobs, FakeRegistry(), dispatcher)(submission())
    assert job.state is JobState.QUEUED and dispatcher.handed == [] and dispatcher.woken == 1


async def test_a_reused_key_returns_its_job_without_asking_anyone_again() -> None:
    jobs, fake_peers = FakeJobs(), FakeRegistry()
    submit = use_case(jobs, fake_peers, FakeDispatcher(idle=False))
    first = await submit(submission())
    calls = fake_peers.calls
    again = await submit(submission())
    assert again == first and fake_peers.calls == calls and len(jobs.jobs) == 1


async def test_denied_consent_refuses_the_job_with_one_violation_and_stores_nothing() -> None:
    jobs = FakeJobs()
    denied = ConsentAnswer(False, "", "EXPIRED", "the consent expired on 2026-01-01")
    with pytest.raises(FailedPrecondition) as refused:
        await use_case(jobs, FakeRegistry(consent=denied), FakeDispatcher(idle=True))(submission())
    assert [(v.type, v.subject) for v in refused.value.violations] == [("EXPIRED", MIA)]
    assert jobs.jobs == {}


async def test_an_unknown_character_is_not_found_and_an_unreachable_peer_unavailable() -> None:
    jobs = FakeJobs()
    with pytest.raises(NotFound):
        await use_case(jobs, FakeRegistry(characters={}), FakeDispatcher(idle=True))(submission())
    with pytest.raises(Unavailable, match="assets is restarting"):
        await use_case(jobs, FakeRegistry(down=True), FakeDispatcher(idle=True))(submission())
    assert jobs.jobs == {}


async def test_random_weights_are_warned_about_in_the_job() -> None:
    job = await use_case(FakeJobs(), FakeRegistry(), FakeDispatcher(idle=False), random_weights=True)(
        submission()
    )
    assert [warning.kind for warning in job.warnings] == [WarningKind.RANDOM_WEIGHTS]


async def test_a_crossfade_longer_than_a_shot_is_an_invalid_argument() -> None:
    short = Shot(prompt="a ball", num_frames=9, fps=16)
    storyboard = Storyboard(shots=(short, short), transition=Transition.CROSSFADE, crossfade_s=2.0)
    with pytest.raises(InvalidArgument, match="crossfade"):
        await use_case(FakeJobs(), FakeRegistry(), FakeDispatcher(idle=False))(
            submission(storyboard=storyboard)
        )
    fine = storyboard.model_copy(update={"crossfade_s": 0.25})
    job = await use_case(FakeJobs(), FakeRegistry(), FakeDispatcher(idle=False))(submission(storyboard=fine))
    assert job.storyboard.transition is Transition.CROSSFADE
