"""Face throughput: insightface's FaceAnalysis against the identity service's engine, same process.

Both run the same model pack (detector + ArcFace recogniser) on the same photos (insightface's
t1.jpg with six people, scikit-image's astronaut and single-person crops of t1.jpg) and must return
the same faces: the script checks that their embeddings agree before it prints any number.

- baseline: ``FaceAnalysis(pack, allowed_modules=[detection, recognition])`` with insightface's
  defaults, one ``app.get(image)`` per request; concurrent requests come from a thread pool, as
  a plain server would call it.
- service: ``FaceEngine.analyse(image)``, the path EncodeIdentity and ScoreVideo use: the detector
  and the recogniser behind micro-batchers (faces of concurrent requests share recogniser runs,
  detection of one request overlaps recognition of another), the detector fed at the photo's
  aspect ratio, on the CPU the recogniser's per-channel PRelus rewritten as operations ONNX Runtime
  keeps in its blocked layout (bit-identical embeddings), ONNX Runtime threads from settings.

Prints faces/s and p50/p99 latency per request for one request at a time and for ``--concurrency``
requests in flight, and the service/baseline throughput ratios.

    .venv/bin/python benchmarks/identity_bench.py                 # CPU
    .venv/bin/python benchmarks/identity_bench.py --gpu           # CUDA provider (onnxruntime-gpu)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Appended, not prepended: an installed likeness (with its services mapped in) must win over the
# source folder of the same name.
sys.path.append(str(Path(__file__).resolve().parents[1]))


@dataclass
class Result:
    name: str
    mode: str
    requests: int
    faces: int
    seconds: float
    latencies_ms: list[float]
    cpu_seconds: float = 0.0

    @property
    def faces_per_s(self) -> float:
        return self.faces / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))

    @property
    def cpu_ms_per_face(self) -> float:
        return self.cpu_seconds * 1000 / self.faces


def measured(run: Callable[[], Result]) -> Result:
    """The run with the process's CPU time (all threads) attached: on a shared machine wall-clock
    throughput depends on the neighbours, CPU time per face much less."""
    cpu_start = time.process_time()
    result = run()
    result.cpu_seconds = time.process_time() - cpu_start
    return result


def median_result(results: list[Result]) -> Result:
    """The repeat with the median throughput."""
    return sorted(results, key=lambda result: result.faces_per_s)[len(results) // 2]


def photos() -> list[np.ndarray]:
    from tests.fixtures.identity import astronaut, t1_image, t1_person

    return [t1_image(), astronaut(), t1_person(0), t1_person(2), t1_person(3), t1_person(5)]


def run_threads(
    name: str,
    mode: str,
    call: Callable[[np.ndarray], int],
    images: list[np.ndarray],
    rounds: int,
    workers: int,
) -> Result:
    work = [images[index % len(images)] for index in range(rounds * len(images))]
    latencies: list[float] = []
    lock = threading.Lock()

    def one(image: np.ndarray) -> int:
        start = time.perf_counter()
        found = call(image)
        elapsed = (time.perf_counter() - start) * 1000
        with lock:
            latencies.append(elapsed)
        return found

    start = time.perf_counter()
    if workers == 1:
        faces = sum(one(image) for image in work)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            faces = sum(pool.map(one, work))
    return Result(name, mode, len(work), faces, time.perf_counter() - start, latencies)


async def run_tasks(
    name: str, mode: str, engine: object, images: list[np.ndarray], rounds: int, concurrency: int
) -> Result:
    work = [images[index % len(images)] for index in range(rounds * len(images))]
    latencies: list[float] = []
    queue: asyncio.Queue[np.ndarray] = asyncio.Queue()
    for image in work:
        queue.put_nowait(image)
    faces = 0

    async def client() -> None:
        nonlocal faces
        while not queue.empty():
            image = queue.get_nowait()
            start = time.perf_counter()
            found, _ = await engine.analyse(image)  # type: ignore[attr-defined]
            latencies.append((time.perf_counter() - start) * 1000)
            faces += len(found)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Result(name, mode, len(work), faces, time.perf_counter() - start, latencies)


def agreement(app: object, engine: object, images: list[np.ndarray]) -> float:
    """Lowest cosine between the two paths' embeddings of the same face (matched by box centre)."""
    lowest = 1.0
    for image in images:
        baseline = app.get(image)  # type: ignore[attr-defined]
        faces, embeddings = asyncio.run(engine.analyse(image))  # type: ignore[attr-defined]
        if len(baseline) != len(faces):
            raise SystemExit(f"the paths disagree on the face count: {len(baseline)} vs {len(faces)}")
        for face, embedding in zip(faces, embeddings, strict=True):
            centre = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
            match = min(
                baseline,
                key=lambda other: float(
                    np.linalg.norm(
                        centre
                        - np.array([(other.bbox[0] + other.bbox[2]) / 2, (other.bbox[1] + other.bbox[3]) / 2])
                    )
                ),
            )
            reference = match.normed_embedding
            lowest = min(lowest, float(reference @ embedding))
    return lowest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpu", action="store_true", help="require ONNX Runtime's CUDA provider")
    parser.add_argument("--cpu", action="store_true", help="never use CUDA, even when present")
    parser.add_argument("--rounds", type=int, default=4, help="passes over the photos per measurement")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="measurements per configuration, interleaved; the median is shown",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight under load")
    parser.add_argument("--det-size", type=int, default=640, help="detector input (longer side)")
    parser.add_argument("--threads", type=int, default=1, help="ORT threads per service session")
    parser.add_argument("--recognition-workers", type=int, default=None)
    parser.add_argument(
        "--batch-window-ms", type=float, default=None, help="micro-batch window (default: the setting's)"
    )
    parser.add_argument(
        "--detection-workers", type=int, default=None, help="detector threads (default: 1 on CPU, 4 on CUDA)"
    )
    args = parser.parse_args()

    import onnxruntime
    from insightface.app import FaceAnalysis

    from likeness.identity.engine import FaceEngine
    from likeness.identity.models import DEFAULT_DETECTOR, DEFAULT_RECOGNISER, default_pack_dir, ort_providers
    from likeness.identity.settings import IdentitySettings

    onnxruntime.set_default_logger_severity(3)
    available = onnxruntime.get_available_providers()
    if args.gpu and "CUDAExecutionProvider" not in available:
        raise SystemExit(f"--gpu: this ONNX Runtime has no CUDA provider (it has {available})")
    use_cuda = not args.cpu
    providers = ort_providers(use_cuda)
    on_gpu = providers[0] != "CPUExecutionProvider"
    recognition_workers = args.recognition_workers or (1 if on_gpu else 2)
    # On CUDA the detector's CPU pre- and post-processing of one photo can overlap another's GPU run.
    detection_workers = args.detection_workers or (4 if on_gpu else 1)

    print(f"onnxruntime {onnxruntime.__version__}, providers {providers}, {os.cpu_count()} CPUs")
    # FaceAnalysis loads every .onnx in a folder and the wheel's folder holds unrelated graphs too, so
    # it gets a folder with links to exactly the pack's two files.
    pack = Path(tempfile.mkdtemp(prefix="likeness-pack-"))
    for filename in (DEFAULT_DETECTOR, DEFAULT_RECOGNISER):
        (pack / filename).symlink_to(default_pack_dir() / filename)
    app = FaceAnalysis(name=str(pack), allowed_modules=["detection", "recognition"], providers=providers)
    app.prepare(ctx_id=0 if on_gpu else -1, det_size=(args.det_size, args.det_size))
    settings = IdentitySettings(
        jwt_keys=[],
        use_cuda=use_cuda,
        detector_input_size=args.det_size,
        ort_intra_op_threads=args.threads,
        recognition_workers=recognition_workers,
        detection_workers=detection_workers,
        **({} if args.batch_window_ms is None else {"batch_window_ms": args.batch_window_ms}),
        estimate_attributes=False,
    )
    engine = FaceEngine(settings)
    engine.start()
    print(
        f"baseline providers {app.models['recognition'].session.get_providers()}, "
        f"service providers {engine.pack.active_providers}, workers: detection {detection_workers},"
        f" recognition {recognition_workers}"
    )
    if args.gpu and engine.pack.active_providers[0] != "CUDAExecutionProvider":
        raise SystemExit(f"--gpu: the CUDA provider did not load (active: {engine.pack.active_providers})")
    images = photos()
    print(
        f"photos: {len(images)} ({', '.join(f'{image.shape[1]}x{image.shape[0]}' for image in images)}), "
        f"faces per pass: {sum(len(app.get(image)) for image in images)}"
    )
    lowest = agreement(app, engine, images)
    print(f"embedding agreement between the paths: lowest cosine {lowest:.4f}")
    # The service never enlarges a small photo for the detector, so its landmarks (and with them the
    # alignment) can differ by a pixel from FaceAnalysis's on such photos; larger gaps mean a bug.
    if lowest < 0.95:
        raise SystemExit("the two paths do not compute the same embeddings; numbers would mean nothing")

    # Warm both (static detector sessions per input size are built on first use).
    run_threads("FaceAnalysis", "warm-up", lambda image: len(app.get(image)), images, 1, 1)
    asyncio.run(run_tasks("service", "warm-up", engine, images, 1, 1))

    def baseline(mode: str, workers: int) -> Result:
        return run_threads(
            "FaceAnalysis", mode, lambda image: len(app.get(image)), images, args.rounds, workers
        )

    def service(mode: str, concurrency: int) -> Result:
        return asyncio.run(run_tasks("service", mode, engine, images, args.rounds, concurrency))

    loaded = f"concurrent x{args.concurrency}"
    configurations: list[Callable[[], Result]] = [
        lambda: baseline("single", 1),
        lambda: service("single", 1),
        lambda: baseline(loaded, args.concurrency),
        lambda: service(loaded, args.concurrency),
    ]
    # The configurations take turns, so a neighbour's burst of load hits all of them alike.
    repeats: list[list[Result]] = [[] for _ in configurations]
    for _ in range(args.repeats):
        for index, configuration in enumerate(configurations):
            result = measured(configuration)
            repeats[index].append(result)
            print(f"  {result.name} {result.mode}: {result.faces_per_s:.1f} faces/s", flush=True)
    results = [median_result(runs) for runs in repeats]
    engine.stop()

    print()
    print(f"median of {args.repeats} interleaved repeats; CPU ms/face counts every thread of this process")
    print(
        f"{'path':<14}{'load':<16}{'requests':>9}{'faces':>7}{'faces/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'CPU ms/face':>13}"
    )
    for result in results:
        print(
            f"{result.name:<14}{result.mode:<16}{result.requests:>9}{result.faces:>7}"
            f"{result.faces_per_s:>10.1f}{result.percentile(50):>10.1f}{result.percentile(99):>10.1f}"
            f"{result.cpu_ms_per_face:>13.1f}"
        )
    single_ratio = results[1].faces_per_s / results[0].faces_per_s
    concurrent_ratio = results[3].faces_per_s / results[2].faces_per_s
    print()
    print(
        f"service / FaceAnalysis throughput: single {single_ratio:.2f}x, concurrent {concurrent_ratio:.2f}x"
    )
    cpu_ratio = results[2].cpu_ms_per_face / results[3].cpu_ms_per_face
    print(f"FaceAnalysis / service CPU time per face under concurrent load: {cpu_ratio:.2f}x")
    print(
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (others' work included)"
    )
    batches = max(engine.recogniser.batches_run, 1)
    print(f"faces per recogniser batch (whole run): {engine.recogniser.items_run / batches:.1f}")


if __name__ == "__main__":
    main()
