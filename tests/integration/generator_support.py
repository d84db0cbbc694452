"""Helpers for the generator tests: a stepped stand-in for the video model, requests, event waits.

``SteppedVideoModel`` is a Ray Serve deployment with the video model's contract
(``likeness.generator.shots``) whose steps take a fixed time and which remembers the last step it ran
for each request, so tests can see where denoising stopped. Its frames are random noise.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve

from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.generator.shots import ModelInfo, ShotFrames, ShotRequest, StepProgress, SynthesisRequest
from likeness.rpc.auth import JwtKey

STEPPED_MODEL = ModelInfo(model_id="stepped-test-model", adapter_id="", random_weights=True)


@serve.deployment(name="VideoModel", max_ongoing_requests=1, max_queued_requests=4)
class SteppedVideoModel:
    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.steps_run: dict[str, int] = {}
        self.finished: dict[str, float] = {}

    async def generate(self, request: ShotRequest) -> AsyncIterator[StepProgress | ShotFrames]:
        try:
            for step in range(1, request.num_inference_steps + 1):
                await asyncio.sleep(self.step_s)  # the stand-in model's step time, not a wait
                self.steps_run[request.request_id] = step
                yield StepProgress(step=step, total_steps=request.num_inference_steps)
            rng = np.random.default_rng(request.seed)
            frames = rng.integers(
                0, 256, (request.num_frames, request.height, request.width, 3), dtype=np.uint8
            )
            yield ShotFrames(frames=frames, seed=request.seed, model=STEPPED_MODEL)
        finally:
            self.finished[request.request_id] = time.time()

    async def synthesize(self, request: SynthesisRequest) -> ShotFrames:
        rng = np.random.default_rng(request.seed)
        frames = rng.integers(0, 256, (request.count, request.height, request.width, 3), dtype=np.uint8)
        return ShotFrames(frames=frames, seed=request.seed, model=STEPPED_MODEL)

    def describe(self) -> ModelInfo:
        return STEPPED_MODEL

    def progress(self) -> dict[str, Any]:
        return {"steps_run": dict(self.steps_run), "finished": dict(self.finished)}


def deploy_stepped_model(serve_module: Any, app_name: str, step_s: float) -> Any:
    serve_module.run(SteppedVideoModel.bind(step_s), name=app_name, route_prefix=None)
    return serve_module.get_deployment_handle("VideoModel", app_name=app_name)


def shot(
    prompt: str = "a red ball rolls across a table", steps: int = 4, frames: int = 5, **fields: Any
) -> pb.Shot:
    return pb.Shot(
        prompt=prompt,
        num_frames=frames,
        resolution=pb.RESOLUTION_480P,
        num_inference_steps=steps,
        guidance_scale=fields.pop("guidance_scale", 1.0),
        seed=fields.pop("seed", 7),
        **fields,
    )


def submission(key: str, *shots: pb.Shot, **fields: Any) -> pb.SubmitGenerationRequest:
    return pb.SubmitGenerationRequest(
        idempotency_key=key,
        purpose=fields.pop("purpose", usage_pb2.USAGE_PURPOSE_ADVERTISING),
        channel=fields.pop("channel", usage_pb2.USAGE_CHANNEL_ONLINE_VIDEO),
        territory=fields.pop("territory", "FR"),
        storyboard=pb.Storyboard(shots=list(shots) or [shot()], **fields.pop("storyboard", {})),
        **fields,
    )


async def wait_for(predicate: Any, timeout_s: float = 60.0, interval_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval_s)  # a poll interval: `predicate` is what is waited on


async def wait_for_state(client: Any, job_id: str, states: set[int], timeout_s: float = 60.0) -> pb.Job:
    async def reached() -> pb.Job | None:
        job = (await client.api.GetJob(pb.GetJobRequest(job_id=job_id))).job
        return job if job.state in states else None

    job: pb.Job = await wait_for(reached, timeout_s)
    return job


async def events_of(client: Any, job_id: str) -> list[pb.JobEvent]:
    return [response.event async for response in client.api.WatchJob(pb.WatchJobRequest(job_id=job_id))]


TERMINAL = {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED}


def short_lease_settings(assets: Any, app: str, tmp_path: Any, **overrides: Any) -> dict[str, Any]:
    """Generator settings for jobs on the tiny model with short leases, polls and frames."""
    values: dict[str, Any] = {
        "assets_address": f"127.0.0.1:{assets.port}",
        "serve_app_name": app,
        "frame_size": (32, 32),
        "lease_s": 1.5,
        "heartbeat_s": 0.3,
        "poll_s": 0.2,
        "progress_interval_s": 0.0,
        "watch_poll_s": 0.1,
        "c2pa_dev_dir": tmp_path / "c2pa",
    }
    values.update(overrides)
    return values


def generator_environment(
    settings: dict[str, Any], database_url: str, jwt_key: JwtKey, **more: str
) -> dict[str, str]:
    """The environment of a generator process (``likeness serve generator``) with these settings."""
    environment = dict(os.environ)
    for name, value in {**settings, **more}.items():
        environment[f"LIKENESS_GENERATOR_{name.upper()}"] = (
            json.dumps(list(value)) if isinstance(value, tuple) else str(value)
        )
    environment.update(
        LIKENESS_GENERATOR_DATABASE_URL=database_url,
        LIKENESS_GENERATOR_PORT="0",
        LIKENESS_GENERATOR_JWT_KEYS=json.dumps(
            [{"kid": jwt_key.kid, "algorithm": jwt_key.algorithm, "secret": jwt_key.signing_key()}]
        ),
    )
    return environment


@contextmanager
def generator_process(environment: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``likeness serve generator`` in a session of its own, its output in ``log_path``; killed (its
    whole session) when the block leaves while it still runs."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "likeness.cli.main", "serve", "generator"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
