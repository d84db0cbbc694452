"""The job's time-left estimates from measured step and finishing times (a fake clock)."""

from __future__ import annotations

import pytest

from likeness.generator.domain import JobClock, Shot, Storyboard


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def storyboard() -> Storyboard:
    return Storyboard(
        shots=(
            Shot(prompt="a", num_frames=81, num_inference_steps=10, guidance_scale=4.0),
            Shot(prompt="b", num_frames=41, num_inference_steps=10, guidance_scale=1.0),
        )
    )


def test_nothing_is_predicted_before_a_step_is_measured() -> None:
    clock = JobClock(storyboard(), FakeClock())
    clock.shot_started()
    assert clock.remaining(0, 0, 10) == (None, None)


def test_estimates_scale_by_each_shots_cost_and_come_down_as_steps_run() -> None:
    time = FakeClock()
    clock = JobClock(storyboard(), time)
    clock.shot_started()
    time.now = 2.0  # 2 s per step of shot 0 (81 frames, guided: cost 162 per step)
    shot_left, job_left = clock.remaining(0, 1, 10)
    assert shot_left == pytest.approx(18.0)
    # Shot 1: 10 steps of cost 41 (no guidance) at 2/162 s per unit; a stitched clip's finishing is 0 yet.
    assert job_left == pytest.approx(18.0 + 10 * 41 * 2 / 162)
    time.now = 10.0
    later_shot, later_job = clock.remaining(0, 5, 10)
    assert later_shot == pytest.approx(10.0) and later_job is not None and later_job < job_left

    # Finishing (decode, sign, score) is measured and expected again for the next shot and the job.
    time.now = 20.0
    clock.denoised()
    time.now = 23.0
    assert clock.remaining(0, 10, 10)[0] == pytest.approx(0.0)
    clock.shot_finished()
    clock.shot_started()
    time.now = 24.0
    shot_left, job_left = clock.remaining(1, 1, 10)
    assert shot_left == pytest.approx(9 * 1.0 + 3.0)  # 1 s per step now, plus 3 s of finishing
    assert job_left == pytest.approx(shot_left + 3.0)  # and the stitched clip's finishing
