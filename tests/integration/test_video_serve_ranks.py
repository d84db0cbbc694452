"""A Serve replica that spans several ranks (CPU ranks on gloo, the tiny model): every shot uses all of
them, and a replica that loses a rank fails the request with the reason and is replaced."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from likeness.generator.model.video import WanVideoModel
from likeness.generator.serve_app import ReplicaStats
from likeness.generator.shots import ModelInfo, ShotFrames, StepProgress
from likeness.generator.videomodel import ReplicaLost, _translate
from tests.integration.test_parallel_engine import _wait_gone
from tests.integration.test_video_serve import shot, someone, stats_when

APP = "video-ranks"


@pytest.fixture(scope="module")
def ranked(ray_serve: Any) -> Iterator[Any]:
    from likeness.generator.serve_app import run_local

    handle = run_local(
        "tiny",
        name=APP,
        ranks=2,
        num_cpus=0,
        health_check_period_s=1.0,
        max_queued_requests=4,
        ray_num_cpus=2,
    )
    try:
        yield handle
    finally:
        ray_serve.delete(APP)


async def frames_of(handle: Any, request: Any, on_progress: Any = None) -> ShotFrames:
    result = None
    async for item in handle.options(stream=True).generate.remote(request):
        if isinstance(item, StepProgress):
            if on_progress is not None:
                on_progress(item)
        else:
            result = item
    assert isinstance(result, ShotFrames)
    return result


async def test_the_replica_reports_its_layout_and_both_ranks_make_the_frames_of_one_process(
    ranked: Any,
) -> None:
    info: ModelInfo = await ranked.describe.remote()
    assert info.parallel_layout == "2 ranks: cfg 2 x ring 1 x ulysses 1" and info.random_weights
    stats: ReplicaStats = await ranked.stats.remote()
    assert len(stats.rank_pids) == 2
    request = shot("two-ranks", 3, someone(1))
    frames = await frames_of(ranked, request)
    assert np.array_equal(frames.frames, WanVideoModel.tiny(0).generate(request).frames)


async def test_a_rank_killed_mid_shot_fails_the_request_and_the_replica_is_replaced(ranked: Any) -> None:
    before: ReplicaStats = await ranked.stats.remote()
    victim = before.rank_pids[1]
    killed: list[int] = []

    def kill_once(progress: StepProgress) -> None:
        if not killed:
            killed.append(victim)
            os.kill(victim, signal.SIGKILL)

    with pytest.raises(Exception) as failed:
        await frames_of(ranked, shot("killed", 400, someone(2)), kill_once)
    translated = _translate(failed.value)
    assert isinstance(translated, ReplicaLost), translated
    assert "rank 1" in str(translated) and "exited with code -9" in str(translated)

    # The failed health check makes Serve replace the replica: new ranks, and shots succeed again.
    replaced = await stats_when(
        ranked, lambda stats: bool(stats.rank_pids) and set(stats.rank_pids).isdisjoint(before.rank_pids), 120
    )
    assert set(replaced.rank_pids).isdisjoint(before.rank_pids), "the replica was not replaced"
    assert _wait_gone(list(before.rank_pids)) == [], "ranks of the lost replica were left running"
    frames = await frames_of(ranked, shot("after", 2, someone(3)))
    assert frames.frames.shape == (9, 64, 64, 3)
