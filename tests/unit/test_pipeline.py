"""The job pipeline and the gates on in-memory fakes of the job store, the peers and the video model
(the clip is really encoded and C2PA-signed with a development chain): the states a job passes
through, a resumed job going on after its last finished shot, and how a denial or a lost peer ends an
attempt."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, cast

import grpc
import numpy as np
import pytest

from likeness.generator import gates, provenance
from likeness.generator.attempt import Attempt, Failure, Retry
from likeness.generator.domain import (
    ErrorCode,
    EventType,
    IdentityScore,
    Job,
    JobCharacter,
    JobState,
    ModelDescription,
    Progress,
    Shot,
    ShotCharacter,
    ShotResult,
    Storyboard,
    UsageChannel,
    UsagePurpose,
)
from likeness.generator.peers import (
    CharacterInfo,
    ClipScores,
    ConsentAnswer,
    GeneratedAssetRecord,
    PeerError,
)
from likeness.generator.pipeline import JobPipeline
from likeness.generator.settings import GeneratorSettings
from likeness.generator.shots import ModelInfo, ShotFrames, ShotRequest, StepProgress
from tests.unit.generator_fakes import MIA, FakeRegistry

pytestmark = pytest.mark.unit


class FakeStore:
    """The job store's update under a lease: the job's new fields, and its events in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.states: list[JobState] = []

    async def update(
        self,
        job: Job,
        *,
        state: JobState | None = None,
        progress: Progress | None = None,
        events: Iterable[dict[str, Any]] = (),
        **columns: Any,
    ) -> Job:
        events = list(events)
        self.events.extend(events)
        changes = dict(columns, last_event_sequence=job.last_event_sequence + len(events))
        if state is not None:
            # The state machine the real store enforces (JobState.may_become).
            assert state is job.state or job.state.may_become(state), f"{job.state} -> {state}"
            changes["state"] = state
            self.states.append(state)
        if progress is not None:
            changes["progress"] = progress
        return job.model_copy(update=changes)


@dataclasses.dataclass
class FakePeers(FakeRegistry):
    similarity: float = 0.9
    upload_fails: bool = False
    uploads: list[str] = dataclasses.field(default_factory=list)
    records: list[GeneratedAssetRecord] = dataclasses.field(default_factory=list)
    stored: dict[str, bytes] = dataclasses.field(default_factory=dict)

    async def embedding(self, brand_id: str, character_id: str, version: int, job_id: str) -> np.ndarray:
        return np.ones(512, dtype=np.float32) / np.sqrt(512)

    async def upload(self, brand_id: str, kind: Any, data: bytes, filename: str, content_type: str) -> str:
        if self.upload_fails:
            raise PeerError(grpc.StatusCode.UNAVAILABLE, "assets is restarting")
        object_id = f"object-{len(self.uploads) + 1}"
        self.uploads.append(filename)
        self.stored[object_id] = data
        return object_id

    async def download(self, brand_id: str, object_id: str) -> bytes:
        return self.stored[object_id]

    async def score_clip(self, brand_id: str, clip_id: str, identities: Any, frames: int) -> ClipScores:
        scores = {
            character_id: IdentityScore(
                character_id=character_id,
                identity_version=version,
                mean_similarity=self.similarity,
                min_similarity=self.similarity,
                no_face_fraction=0.0,
            )
            for character_id, version, _ in identities
        }
        return ClipScores(scores, "pack-1")

    async def record_generated_asset(self, brand_id: str, record: GeneratedAssetRecord) -> str:
        self.records.append(record)
        return f"asset-{len(self.records)}"


class FakeModel:
    info = ModelInfo(model_id="wan", adapter_id="adapter@1", random_weights=True)

    def __init__(self) -> None:
        self.requests: list[ShotRequest] = []

    async def generate(self, request: ShotRequest) -> AsyncIterator[StepProgress | ShotFrames]:
        self.requests.append(request)
        for step in range(1, request.num_inference_steps + 1):
            yield StepProgress(step=step, total_steps=request.num_inference_steps)
        frames = np.full((request.num_frames, request.height, request.width, 3), 128, dtype=np.uint8)
        yield ShotFrames(frames=frames, seed=request.seed, model=self.info)


def job(shots: int = 1, **changes: Any) -> Job:
    shot = Shot(
        prompt="Mia walks", num_frames=9, num_inference_steps=2, characters=(ShotCharacter(character_id=MIA),)
    )
    base = Job(
        job_id="job-1", brand_id="acme", idempotency_key="k", state=JobState.CHECKING,
        purpose=UsagePurpose.ADVERTISING, channel=UsageChannel.TV, territory="FR",
        strict_attribute_check=False, storyboard=Storyboard(shots=(shot,) * shots),
        characters=(JobCharacter(character_id=MIA, identity_version=1, consent_id="consent-1"),),
        created_by="ana", created_at=datetime.now(UTC), started_at=None, finished_at=None,
        progress=Progress(shot_count=shots), warnings=(), error=None, shot_results=(),
        final_identity_scores=(), flagged=False, generated_asset_id="", clip_object_id="",
        model=ModelDescription(model_id="wan", adapter_id="adapter@1", random_weights=True),
        scoring_model_pack_id="", last_event_sequence=2, attempts=1,
    )  # fmt: skip
    return base.model_copy(update=changes)


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> provenance.SigningIdentity:
    return provenance.development_identity(tmp_path_factory.mktemp("c2pa"))


def pipeline(store: FakeStore, peers: FakePeers, signing: provenance.SigningIdentity) -> JobPipeline:
    settings = GeneratorSettings(frame_size=(32, 32), progress_interval_s=0.0)
    return JobPipeline(cast(Any, store), cast(Any, peers), cast(Any, FakeModel()), signing, settings)


async def test_a_job_goes_from_checking_through_its_shot_to_succeeded(signing: Any) -> None:
    store, peers = FakeStore(), FakePeers()
    attempt = Attempt(job())
    await pipeline(store, peers, signing).execute(attempt, "")
    assert store.states == [JobState.RUNNING, JobState.SCORING, JobState.SUCCEEDED]
    assert attempt.job.state is JobState.SUCCEEDED and attempt.job.clip_object_id == "object-1"
    # The consent record the gates found is the one the clip is recorded under.
    assert [c.consent_id for c in attempt.job.characters] == ["consent-2"]
    (record,) = peers.records
    assert [(c[0], c[1], c[2]) for c in record.characters] == [(MIA, 1, "consent-2")]
    assert record.purpose is UsagePurpose.ADVERTISING and not record.flagged
    types = [event["type"] for event in store.events]
    assert types[0] == EventType.STATE_CHANGED and types[-1] == EventType.STATE_CHANGED
    assert EventType.SHOT_FINISHED in types and types.count(EventType.PROGRESS) == 2


async def test_a_clip_unlike_its_identity_is_flagged(signing: Any) -> None:
    store, peers = FakeStore(), FakePeers(similarity=0.1)
    attempt = Attempt(job())
    await pipeline(store, peers, signing).execute(attempt, "")
    assert attempt.job.flagged and peers.records[0].flagged
    assert "below" in peers.records[0].flag_reasons[0]


async def test_a_resumed_job_goes_on_after_its_last_finished_shot_and_stitches(signing: Any) -> None:
    store, peers = FakeStore(), FakePeers()
    model = FakeModel()
    runner = JobPipeline(
        cast(Any, store), cast(Any, peers), cast(Any, model), signing,
        GeneratorSettings(frame_size=(32, 32), progress_interval_s=0.0),
    )  # fmt: skip
    done = ShotResult(shot_index=0, clip_object_id="", generated_asset_id="asset-0", seed=1)
    attempt = Attempt(job(2, state=JobState.RUNNING, shot_results=(done,), attempts=2))
    # The first shot's clip as the earlier attempt stored it.
    shot_clip = await _encoded_clip()
    peers.stored["object-0"] = shot_clip
    attempt.job = attempt.job.model_copy(
        update={"shot_results": (done.model_copy(update={"clip_object_id": "object-0"}),)}
    )
    await runner.execute(attempt, "the previous worker stopped")
    assert [request.request_id for request in model.requests] == ["job-1/1/2"]  # shot 1 only
    assert attempt.job.state is JobState.SUCCEEDED
    assert [result.shot_index for result in attempt.job.shot_results] == [0, 1]
    assert peers.uploads[-2:] == ["job-job-1.mp4", "job-job-1.c2pa"]  # the stitched clip


async def _encoded_clip() -> bytes:
    from likeness.generator import stitching

    return stitching.encode_mp4(np.full((9, 32, 32, 3), 128, dtype=np.uint8), 16)


async def test_consent_revoked_before_the_shot_fails_the_job(signing: Any) -> None:
    denied = ConsentAnswer(False, "", "REVOKED", "consent revoked on 2026-12-01")
    attempt = Attempt(job(state=JobState.RUNNING))
    with pytest.raises(Failure) as failed:
        await pipeline(FakeStore(), FakePeers(consent=denied), signing).execute(attempt, "")
    assert failed.value.error.code is ErrorCode.CONSENT_DENIED and "REVOKED" in failed.value.error.message


async def test_an_unreachable_store_of_clips_gives_the_job_back(signing: Any) -> None:
    attempt = Attempt(job())
    with pytest.raises(Retry, match="assets is restarting"):
        await pipeline(FakeStore(), FakePeers(upload_fails=True), signing).execute(attempt, "")


async def test_the_gates_report_every_problem_of_a_storyboard() -> None:
    @dataclasses.dataclass
    class Peers(FakePeers):
        async def character(self, brand_id: str, character_id: str) -> CharacterInfo:
            return CharacterInfo(character_id, "archived", 1, "male", None)

    shot = Shot(prompt="a woman walks", num_frames=9, characters=(ShotCharacter(character_id=MIA),))
    usage = gates.Usage("acme", UsagePurpose.ADVERTISING, UsageChannel.TV, "FR", True)
    denied = ConsentAnswer(False, "", "EXPIRED", "expired")
    result = await gates.check(Peers(consent=denied), usage, Storyboard(shots=(shot,)))
    assert {problem.type for problem in result.problems} >= {"CHARACTER_UNAVAILABLE", "EXPIRED"}
