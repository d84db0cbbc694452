"""Generator benchmark: what a durable job costs on top of the model.

On the CPU with the tiny random-weights Wan 2.2 model (its output is noise), one shot of ``--frames``
frames at ``--height`` x ``--width`` with ``--steps`` denoising steps is made two ways in the same run:

- **raw**: the pipeline called in this process (``WanVideoModel.generate``), with as many torch threads
  as the Serve replica has CPUs, so both run on the same compute;
- **job**: ``SubmitGeneration`` over gRPC → job table → a worker → the Serve ``VideoModel`` replica
  through a streaming ``DeploymentHandle`` (progress events stored) → the frames back in the worker,
  timed on the client until the job's "shot generated" event arrives on its ``WatchJob`` stream.

The difference is the job overhead (gRPC + job table + worker + Serve); the target is <= 10% at 4
steps. The time to SUCCEEDED (which adds H.264 encoding, C2PA signing, upload and the asset record) is
printed too. Real PostgreSQL (embedded); the assets and generator services each run in their own
process, as deployed, so the client's work does not share their event loops.

The raw call and the job run one after the other, and a shared machine's cores change speed between
them, so the per-run difference is noisy. The replica also times its own model call (a shot's
``model_time``): the job's time around that call is exact per run, and the model's time in the replica
against the raw call shows separately whether the model runs slower under Serve.

    .venv/bin/python benchmarks/generator_bench.py
    .venv/bin/python benchmarks/generator_bench.py --gpu   # benchmarks/generator_gpu.py on a GPU machine
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from service_process import ServiceProcess

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as pb
from likeness.rpc.auth import JwtKey, Role, mint_token
from likeness.sdk import AsyncAssetsClient, AsyncGeneratorClient

BRAND = "bench"
TARGET_OVERHEAD = 0.10
REPLICA_CPUS = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpu", action="store_true", help="run benchmarks/generator_gpu.py instead")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--runs", type=int, default=40, help="timed runs of each kind (after one warm-up)")
    parser.add_argument("--timeline", action="store_true", help="print the last job's events as they arrived")
    return parser.parse_known_args(argv)[0]


def shot_request(args: argparse.Namespace, seed: int) -> Any:
    """The shot as the job's worker sends it to the replica (progress at the worker's default interval)."""
    from likeness.generator.settings import GeneratorSettings
    from likeness.generator.shots import ShotRequest

    return ShotRequest(
        request_id=f"raw-{seed}",
        prompt="a red ball rolls across a wooden table",
        negative_prompt="blurry",
        num_frames=args.frames,
        height=args.height,
        width=args.width,
        seed=seed,
        num_inference_steps=args.steps,
        guidance_scale=4.0,
        progress_interval_s=GeneratorSettings.model_fields["progress_interval_s"].default,
    )


def raw_model() -> Any:
    import torch

    from likeness.generator.model.video import WanVideoModel

    torch.set_num_threads(REPLICA_CPUS)
    return WanVideoModel.tiny(0)


def time_raw(model: Any, args: argparse.Namespace, seed: int) -> float:
    started = time.perf_counter()
    model.generate(shot_request(args, seed))
    return time.perf_counter() - started


def job_request(args: argparse.Namespace, seed: int) -> pb.SubmitGenerationRequest:
    return pb.SubmitGenerationRequest(
        idempotency_key=f"bench-{uuid.uuid4()}",
        purpose=usage_pb2.USAGE_PURPOSE_INTERNAL_TESTING,
        channel=usage_pb2.USAGE_CHANNEL_INTERNAL,
        territory="FR",
        storyboard=pb.Storyboard(
            shots=[
                pb.Shot(
                    prompt="a red ball rolls across a wooden table",
                    negative_prompt="blurry",
                    num_frames=args.frames,
                    resolution=pb.RESOLUTION_480P,
                    num_inference_steps=args.steps,
                    guidance_scale=4.0,
                    seed=seed,
                )
            ]
        ),
    )


async def time_both(
    args: argparse.Namespace, workdir: Path
) -> tuple[list[float], list[float], list[float], dict[str, Any]]:
    """Raw calls and jobs interleaved, so both see the same machine load.

    The assets and generator services each run in their own process, as deployed; the generator
    starts the local Ray with the Serve application, and this process joins that Ray as a second
    driver for the Serve-only calls.
    """
    from likeness.embedded.postgres import EmbeddedPostgres
    from likeness.generator.settings import GeneratorSettings
    from likeness.generator.shots import ShotFrames

    key = JwtKey(kid="bench", algorithm="HS256", secret=secrets.token_urlsafe(32))  # type: ignore[arg-type]
    postgres = EmbeddedPostgres(workdir / "postgres")
    database_url = postgres.start()
    common: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "jwt_keys": [key],
        "shutdown_grace_s": 1.0,
        "log_level": "WARNING",
    }
    assets = ServiceProcess(
        "assets", {**common, "database_url": database_url, "object_store_dir": workdir / "objects"}
    )
    generator: ServiceProcess | None = None
    try:
        assets_port = assets.start()
        generator_settings: dict[str, Any] = {
            **common,
            "database_url": database_url,
            "assets_address": f"127.0.0.1:{assets_port}",
            "frame_size": (args.height, args.width),
            "workers": 1,
            "c2pa_dev_dir": workdir / "c2pa",
        }
        generator = ServiceProcess("generator", generator_settings)
        generator_port = generator.start()
        token = mint_token(key, issuer="likeness", subject="bench", brand_id=BRAND, roles=[Role.ADMIN])
        async with AsyncAssetsClient(f"127.0.0.1:{assets_port}", token=token) as registry:
            await registry.api.CreateBrand(assets_pb.CreateBrandRequest(brand_id=BRAND, display_name="Bench"))
        import ray
        from ray import serve

        ray.init(address="auto", _node_ip_address="127.0.0.1", configure_logging=False, log_to_driver=False)
        app_name = GeneratorSettings.model_fields["serve_app_name"].default
        handle = serve.get_deployment_handle("VideoModel", app_name=app_name)
        model = raw_model()
        raw: list[float] = []
        served: list[float] = []
        to_frames: list[float] = []
        to_done: list[float] = []
        # The replica's own time on the model (ShotFrames.model_s; a job's ShotResult.model_time).
        serve_model: list[float] = []
        job_model: list[float] = []
        progress_events = 0
        async with AsyncGeneratorClient(f"127.0.0.1:{generator_port}", token=token) as api:
            for run in range(args.runs + 1):
                raw_s = time_raw(model, args, run)
                serve_started = time.perf_counter()
                serve_model_s = 0.0
                async for item in handle.options(stream=True).generate.remote(shot_request(args, run)):
                    if isinstance(item, ShotFrames):
                        serve_model_s = item.model_s
                serve_s = time.perf_counter() - serve_started
                started = time.perf_counter()
                job = (await api.api.SubmitGeneration(job_request(args, run))).job
                generated = done = 0.0
                timeline = [f"{(time.perf_counter() - started) * 1000:7.1f} ms  SubmitGeneration returned"]
                first_written: datetime | None = None
                async for response in api.api.WatchJob(pb.WatchJobRequest(job_id=job.job_id)):
                    event = response.event
                    seen_ms = (time.perf_counter() - started) * 1000
                    written = event.event_time.ToDatetime()
                    first_written = first_written or written
                    written_ms = (written - first_written).total_seconds() * 1000
                    timeline.append(
                        f"{seen_ms:7.1f} ms  (began {written_ms:+6.1f} ms)  "
                        f"{pb.JobEventType.Name(event.type)}: {event.message[:60]}"
                    )
                    if event.type == pb.JOB_EVENT_TYPE_PROGRESS and run > 0:
                        progress_events += 1
                    if event.type == pb.JOB_EVENT_TYPE_LOG and "generated" in event.message:
                        generated = time.perf_counter() - started
                    if event.type == pb.JOB_EVENT_TYPE_STATE_CHANGED and event.state == pb.JOB_STATE_FAILED:
                        raise RuntimeError(f"benchmark job failed: {event.error.message}")
                done = time.perf_counter() - started
                finished = (await api.api.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
                job_model_s = finished.shot_results[0].model_time.ToTimedelta().total_seconds()
                print(
                    f"  run {run}{' (warm-up)' if run == 0 else ''}: raw {raw_s * 1000:.1f} ms, Serve"
                    f" {serve_s * 1000:.1f} ms, job to frames {generated * 1000:.1f} ms, to SUCCEEDED"
                    f" {done * 1000:.1f} ms",
                    flush=True,
                )
                if args.timeline and run == args.runs:
                    print(
                        "  the last job's events as the client saw them (ms after SubmitGeneration), and"
                        " when their transactions began (ms after the first)"
                    )
                    for line in timeline:
                        print(f"    {line}")
                if run > 0:
                    raw.append(raw_s)
                    served.append(serve_s)
                    to_frames.append(generated)
                    to_done.append(done)
                    serve_model.append(serve_model_s)
                    job_model.append(job_model_s)
        info = {
            "progress_events_per_job": progress_events / max(1, args.runs),
            "served": served,
            "serve_model": serve_model,
            "job_model": job_model,
        }
        return raw, to_frames, to_done, info
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        if generator is not None:
            generator.stop()
        assets.stop()
        postgres.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.gpu:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import generator_gpu  # type: ignore[import-not-found]

        result: int = generator_gpu.main()
        return result
    shape = f"{args.frames} frames at {args.height}x{args.width}, {args.steps} steps, guidance 4.0"
    print(f"tiny Wan 2.2, random weights (output is noise); {shape}; {args.runs} timed runs after a warm-up")
    with tempfile.TemporaryDirectory(prefix="generator-bench-") as directory:
        raw, to_frames, to_done, info = asyncio.run(time_both(args, Path(directory)))
    raw_ms = statistics.median(raw) * 1000
    job_ms = statistics.median(to_frames) * 1000
    done_ms = statistics.median(to_done) * 1000
    serve_ms = statistics.median(info["served"]) * 1000
    # Each run times the three paths back to back; on a shared machine the speed of the cores drifts
    # from run to run, so the per-run difference is the steadier estimate of what the job adds.
    paired_ms = statistics.median(job - base for job, base in zip(to_frames, raw, strict=True)) * 1000
    serve_paired_ms = statistics.median(s - base for s, base in zip(info["served"], raw, strict=True)) * 1000
    print(f"raw pipeline call ({REPLICA_CPUS} torch thread):  median {raw_ms:8.1f} ms")
    print(f"Serve handle call, no job:           median {serve_ms:8.1f} ms")
    print(f"job, submit -> frames in the worker: median {job_ms:8.1f} ms")
    print(f"job, submit -> SUCCEEDED:            median {done_ms:8.1f} ms (+ encode, C2PA, upload, record)")
    print(f"stored PROGRESS events per job: {info['progress_events_per_job']:.1f} (coalesced)")
    print(
        f"Serve alone over raw: median per-run difference {serve_paired_ms:+.1f} ms"
        f" ({serve_paired_ms / raw_ms:+.1%}); ratio of medians {serve_ms / raw_ms - 1:+.1%}"
    )
    print(
        f"job over raw: median per-run difference {paired_ms:+.1f} ms ({paired_ms / raw_ms:+.1%});"
        f" ratio of medians {job_ms / raw_ms - 1:+.1%}"
    )
    # The replica times its own model call, so the time around it is known per call, free of the
    # drift in core speed between the raw call and the job; what remains is whether the model itself
    # runs as fast in the replica as in this process.
    job_model_ms = statistics.median(info["job_model"]) * 1000
    around_ms = statistics.median(j - m for j, m in zip(to_frames, info["job_model"], strict=True)) * 1000
    around_low, around_high = median_interval_ms(to_frames, info["job_model"])
    serve_around_ms = (
        statistics.median(s - m for s, m in zip(info["served"], info["serve_model"], strict=True)) * 1000
    )
    in_replica_ms = statistics.median(m - base for m, base in zip(info["job_model"], raw, strict=True)) * 1000
    print(
        f"the model's own time in the replica (ShotResult.model_time): median {job_model_ms:8.1f} ms;"
        f" against the raw call, median per-run difference {in_replica_ms:+.1f} ms"
        f" ({in_replica_ms / raw_ms:+.1%})"
    )
    print(
        f"around the model's own time, per call: Serve alone {serve_around_ms:+.1f} ms; job"
        f" {around_ms:+.1f} ms ({around_ms / raw_ms:+.1%} of raw), 95% bootstrap interval"
        f" {around_low / raw_ms:+.1%} to {around_high / raw_ms:+.1%}"
    )
    overhead = paired_ms / raw_ms
    low, high = (bound / raw_ms for bound in median_interval_ms(to_frames, raw))
    if high <= TARGET_OVERHEAD:
        verdict = "meets the <= 10% target (the whole interval is below it)"
    elif low > TARGET_OVERHEAD:
        verdict = "misses the <= 10% target (the whole interval is above it)"
    else:
        verdict = "does not settle the <= 10% target (the interval straddles it)"
    print(
        f"job overhead (gRPC + job table + worker + Serve), median per-run difference: {overhead:+.1%},"
        f" 95% bootstrap interval {low:+.1%} to {high:+.1%}; {verdict}"
    )
    return 0


def median_interval_ms(measured: list[float], base: list[float], draws: int = 5000) -> tuple[float, float]:
    """A 95% bootstrap interval (ms) of the median per-run difference: how far the machine's noise
    leaves the estimate from what more runs would give."""
    import numpy as np

    differences = np.asarray(measured) - np.asarray(base)
    resampled = np.random.default_rng(0).choice(differences, size=(draws, len(differences)), replace=True)
    low, high = np.percentile(np.median(resampled, axis=1), [2.5, 97.5]) * 1000
    return float(low), float(high)


if __name__ == "__main__":
    raise SystemExit(main())
