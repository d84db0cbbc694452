"""One model over several CPU ranks (gloo, float32, the tiny model): context parallelism and CFG
parallelism give what one process gives, and the replica owns its rank processes."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from likeness.generator.model.parallel import ParallelLayout
from likeness.generator.model.ranks import RankFailed, RankGroup
from likeness.generator.model.video import WanVideoModel, build_tiny
from likeness.generator.shots import ShotRequest
from tests.unit.test_video_model import LEFT_HALF, RIGHT_HALF, character, png, shot

#: Four heads: Ulysses over four ranks splits them one per rank.
HEADS = 4
#: Exactness bound of the acceptance (float32 on CPU); the runs here have been bit-identical.
TOLERANCE = 1e-5

CASES: dict[str, ShotRequest] = {
    "text to video": shot(character(1)),
    "strength 0": shot(character(1, strength=0.0)),
    "two characters with screen regions": shot(
        character(1, region=LEFT_HALF), character(2, region=RIGHT_HALF)
    ),
    "VACE references": shot(character(1, reference_images=(png(1),))),
    "no guidance": shot(character(1), guidance_scale=1.0),
    "draft LoRA": shot(character(1), guidance_scale=1.0, preset="draft"),
    # MagCache skips steps here (12 steps: the first fifth of each expert's always run).
    "fast step cache": shot(character(1), steps=12, preset="fast"),
}


@pytest.fixture(scope="module")
def reference() -> WanVideoModel:
    return WanVideoModel.tiny(seed=0, heads=HEADS)


@functools.cache
def expected(name: str, model: WanVideoModel) -> np.ndarray:
    (frames,) = model.denoise([CASES[name]])
    return np.asarray(frames)


@pytest.fixture(
    scope="module",
    params=[(2, True), (2, False), (4, True), (4, False)],
    ids=["2 ranks cfg+ulysses", "2 ranks ulysses", "4 ranks cfg+ulysses", "4 ranks ulysses"],
)
def group(request: pytest.FixtureRequest) -> Iterator[RankGroup]:
    world_size, cfg_parallel = request.param
    started = RankGroup.start(
        world_size, functools.partial(build_tiny, seed=0, heads=HEADS), cfg_parallel=cfg_parallel
    )
    try:
        yield started
    finally:
        started.close()


def test_layouts_use_cfg_halves_then_ulysses_then_ring() -> None:
    assert ParallelLayout.plan(1, 40) == ParallelLayout(1, cfg=1, ring=1, ulysses=1)
    assert ParallelLayout.plan(8, 40) == ParallelLayout(8, cfg=2, ring=1, ulysses=4)
    assert ParallelLayout.plan(8, 40, cfg_parallel=False) == ParallelLayout(8, cfg=1, ring=1, ulysses=8)
    assert ParallelLayout.plan(8, 12, cfg_parallel=False) == ParallelLayout(8, cfg=1, ring=2, ulysses=4)
    assert ParallelLayout.plan(3, 40) == ParallelLayout(3, cfg=1, ring=3, ulysses=1)
    assert ParallelLayout.plan(8, 40).describe() == "8 ranks: cfg 2 x ring 1 x ulysses 4"


@pytest.mark.parametrize("case", list(CASES))
def test_ranks_match_one_process(case: str, group: RankGroup, reference: WanVideoModel) -> None:
    frames = np.asarray(group.denoise([CASES[case]]))
    difference = float(np.abs(frames.astype(np.float64) - expected(case, reference)).max())
    assert difference <= TOLERANCE, f"{group.layout.describe()}: {case} differs by {difference}"


def test_frames_progress_and_a_stop_on_every_rank(group: RankGroup, reference: WanVideoModel) -> None:
    steps: list[tuple[int, int]] = []
    frames = group.generate(CASES["text to video"], on_step=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert np.array_equal(frames.frames, reference.generate(CASES["text to video"]).frames)

    from likeness.generator.model.video import DenoisingInterrupted

    seen: list[int] = []
    with pytest.raises(DenoisingInterrupted) as stopped:
        group.generate(CASES["text to video"], on_step=lambda step, total: seen.append(step),
                       should_stop=lambda: bool(seen))  # fmt: skip
    assert 1 <= stopped.value.steps_done < 4
    # Every rank left the loop at the same step: the group serves the next request.
    assert np.array_equal(
        group.generate(CASES["strength 0"]).frames, reference.generate(CASES["strength 0"]).frames
    )


def test_a_request_the_model_refuses_leaves_the_group_serving(group: RankGroup) -> None:
    with pytest.raises(ValueError, match="at most 8 characters"):
        group.generate(shot(*(character(seed) for seed in range(9))))
    assert group.failure is None
    assert group.generate(CASES["no guidance"]).frames.shape == (9, 64, 64, 3)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child still answers kill(0) until it is reaped; /proc says whether it still runs.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


def _wait_gone(pids: list[int], timeout_s: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (alive := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        os.sched_yield()
    return alive


def test_a_rank_killed_mid_shot_fails_the_request_with_the_reason_and_the_group_for_good() -> None:
    group = RankGroup.start(2, functools.partial(build_tiny, seed=0))
    pids = group.pids()
    try:
        killed: list[int] = []

        def on_step(step: int, total: int) -> None:
            if not killed:
                killed.append(pids[1])
                os.kill(pids[1], signal.SIGKILL)

        with pytest.raises(RankFailed, match=r"rank 1 \(pid \d+\) exited with code -9"):
            group.generate(shot(character(1), steps=200), on_step=on_step)
        assert group.failure is not None and "rank 1" in group.failure
        assert _wait_gone(pids) == [], "the other ranks were left running"
        with pytest.raises(RankFailed, match="rank 1"):
            group.generate(CASES["text to video"])
    finally:
        group.close()


def test_ranks_die_with_the_process_that_spawned_them(tmp_path: Any) -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import functools, sys
            from likeness.generator.model.ranks import RankGroup
            from likeness.generator.model.video import build_tiny
            group = RankGroup.start(2, functools.partial(build_tiny, seed=0))
            print(*group.pids(), flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert driver.stdout is not None
    pids = [int(pid) for pid in driver.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    driver.kill()  # no clean-up code runs: the kernel's parent-death signal must end the ranks
    driver.wait()
    assert _wait_gone(pids) == []
