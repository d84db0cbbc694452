"""The Ray Serve video model as the generator's job workers call it: a streaming DeploymentHandle."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import numpy as np
import pytest
from ray.serve.exceptions import BackPressureError, RequestCancelledError

from likeness.generator.serve_app import ReplicaStats
from likeness.generator.shots import (
    CharacterConditioning,
    ModelInfo,
    ShotFrames,
    ShotRequest,
    StepProgress,
    SynthesisRequest,
)
from tests.fixtures.video_model import QUEUE_BOUND


def shot(request_id: str, steps: int, *characters: CharacterConditioning) -> ShotRequest:
    return ShotRequest(
        request_id=request_id,
        prompt="a woman walks along a beach at dusk",
        negative_prompt="blurry",
        num_frames=9,
        height=64,
        width=64,
        seed=5,
        num_inference_steps=steps,
        guidance_scale=5.0,
        characters=characters,
    )


def someone(seed: int) -> CharacterConditioning:
    vector = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return CharacterConditioning(
        character_id="c", z_id=vector / np.linalg.norm(vector), identity_strength=0.8
    )


async def stats_when(handle: Any, done: Any, within_s: float = 60.0) -> ReplicaStats:
    deadline = time.monotonic() + within_s
    while True:
        stats: ReplicaStats = await handle.stats.remote()
        if done(stats) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.05)  # a poll interval: `done(stats)` is what is waited on


async def test_describe_says_the_weights_are_random(video_model: Any) -> None:
    info: ModelInfo = await video_model.describe.remote()
    assert info.random_weights
    assert info.model_id == "tiny-wan2.2-random"
    assert info.supports_reference_images
    # A second handle, found by the application's name, reaches the same replica.
    from ray import serve

    again: ModelInfo = await serve.get_app_handle("video").describe.remote()
    assert again == info


async def test_generate_streams_every_step_then_the_frames(video_model: Any) -> None:
    started = time.perf_counter()
    events = [
        event async for event in video_model.options(stream=True).generate.remote(shot("all", 4, someone(1)))
    ]
    elapsed = time.perf_counter() - started
    *progress, result = events
    assert progress == [StepProgress(step=step, total_steps=4) for step in (1, 2, 3, 4)]
    assert isinstance(result, ShotFrames)
    assert result.frames.shape == (9, 64, 64, 3) and result.frames.dtype == np.uint8
    assert result.seed == 5 and result.model.random_weights
    # The replica's own time on the model: within the call, which also carries the request and frames.
    assert 0 < result.model_s < elapsed


async def test_generate_streams_progress_at_most_once_per_interval_and_always_the_last_step(
    video_model: Any,
) -> None:
    every_step = shot("every", 4, someone(1))
    events = [
        event
        async for event in video_model.options(stream=True).generate.remote(
            dataclasses.replace(every_step, request_id="coalesced", progress_interval_s=3600.0)
        )
    ]
    *progress, result = events
    assert progress == [StepProgress(step=4, total_steps=4)]
    # The same shot as with every step streamed.
    (*_, plain) = [event async for event in video_model.options(stream=True).generate.remote(every_step)]
    np.testing.assert_array_equal(result.frames, plain.frames)


async def test_a_cancelled_stream_stops_denoising_within_one_step(video_model: Any) -> None:
    before: ReplicaStats = await video_model.stats.remote()
    total = 200
    response = video_model.options(stream=True).generate.remote(shot("cancel-me", total))
    seen = []
    with pytest.raises((RequestCancelledError, asyncio.CancelledError)):
        async for event in response:
            seen.append(event)
            if len(seen) == 3:
                response.cancel()
    assert [event.step for event in seen[:3]] == [1, 2, 3]
    after = await stats_when(video_model, lambda stats: stats.cancelled > before.cancelled)
    assert after.cancelled == before.cancelled + 1
    assert after.last_cancelled_at_step >= 3
    # The step in progress when the cancellation arrived finishes; no other starts.
    assert after.last_steps_run - after.last_cancelled_at_step <= 1
    assert after.last_steps_run < total
    # The replica is free again.
    events = [event async for event in video_model.options(stream=True).generate.remote(shot("next", 2))]
    assert isinstance(events[-1], ShotFrames)


async def test_a_full_queue_is_refused_with_back_pressure(video_model: Any) -> None:
    responses = [video_model.options(stream=True).generate.remote(shot(f"q{index}", 8)) for index in range(4)]

    async def drain(response: Any) -> str:
        try:
            async for event in response:
                if isinstance(event, ShotFrames):
                    return "done"
        except BackPressureError:
            return "refused"
        return "no frames"

    outcomes = await asyncio.gather(*(drain(response) for response in responses))
    # One runs, at most QUEUE_BOUND wait; the rest are refused at once.
    assert outcomes.count("refused") >= len(responses) - 1 - QUEUE_BOUND
    assert outcomes.count("done") >= 1
    assert set(outcomes) <= {"done", "refused"}


async def test_synthesize_returns_candidate_stills(video_model: Any) -> None:
    result: ShotFrames = await video_model.synthesize.remote(
        SynthesisRequest(
            request_id="s", description="a man of about forty", count=2, seed=1, height=64, width=64
        )
    )
    assert result.frames.shape == (2, 64, 64, 3)
    assert result.model.random_weights


async def test_the_generator_serves_the_weights_of_its_local_model_dir(ray_serve: Any, tmp_path: Any) -> None:
    from ray import serve

    from likeness.generator.model.video import WanVideoModel
    from likeness.generator.settings import GeneratorSettings
    from likeness.generator.videomodel import _connect, local_model_args

    assert local_model_args(GeneratorSettings())["variant"] == "tiny"
    with pytest.raises(ValueError, match="need local_model_dir"):
        local_model_args(GeneratorSettings(local_weights_uri="s3://weights/wan"))
    saved = WanVideoModel.tiny(seed=3, vace=False).save_pretrained(tmp_path / "weights")
    settings = GeneratorSettings(
        local_model_dir=str(saved), local_max_queued_requests=2, serve_app_name="video-from-dir"
    )
    assert local_model_args(settings)["variant"] == "a14b"
    handle, release = _connect(settings)  # the path a generator with an empty ray_address takes
    try:
        assert release is None  # the session's Ray was already up: this generator stops nothing
        info: ModelInfo = await handle.describe.remote()
        # The directory's model, not the session's tiny application: no VACE pipeline was saved.
        assert info.random_weights and not info.supports_reference_images
        request = shot("from-dir", 2, someone(4))
        items = [item async for item in handle.options(stream=True).generate.remote(request)]
        served = items[-1]
        assert isinstance(served, ShotFrames) and served.frames.shape == (9, 64, 64, 3)
        local = WanVideoModel.from_pretrained(saved).generate(request)
        assert np.abs(served.frames.astype(int) - local.frames.astype(int)).max() <= 1
    finally:
        serve.delete("video-from-dir")
