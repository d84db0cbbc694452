"""ScoreVideo: how well a clip keeps each identity, frame by frame."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from likeness.identity.engine import FaceEngine
from likeness.identity.media import VideoFrame, VideoInfo, VideoReader, sample_indices
from likeness.identity.quality import FloatArray, percentile

DEFAULT_SAMPLE_FRAMES = 16
FRAMES_IN_FLIGHT = 8
_NO_PIXELS = np.zeros((0, 0, 3), dtype=np.uint8)


@dataclass(frozen=True)
class FrameScore:
    frame_index: int
    timestamp_s: float
    similarity: float | None  # None: no face was assigned to the identity in this frame


@dataclass(frozen=True)
class IdentityScore:
    label: str
    frames: list[FrameScore]
    mean: float | None
    minimum: float | None
    p10: float | None
    p50: float | None
    p90: float | None
    adjacent_frame_consistency: float | None
    no_face_fraction: float


@dataclass(frozen=True)
class VideoScore:
    identities: list[IdentityScore]
    frames_sampled: int
    info: VideoInfo
    model_pack_id: str


def assign_faces(similarities: FloatArray) -> dict[int, int]:
    """Identity row → face column, one-to-one, maximising the total similarity."""
    if similarities.size == 0:
        return {}
    rows, columns = linear_sum_assignment(similarities, maximize=True)
    return {int(row): int(column) for row, column in zip(rows, columns, strict=True)}


def summarise(label: str, frames: list[FrameScore], embeddings: list[FloatArray | None]) -> IdentityScore:
    found = [frame.similarity for frame in frames if frame.similarity is not None]
    pairs = [
        float(first @ second)
        for first, second in itertools.pairwise(embeddings)
        if first is not None and second is not None
    ]
    return IdentityScore(
        label=label,
        frames=frames,
        mean=float(np.mean(found)) if found else None,
        minimum=float(np.min(found)) if found else None,
        p10=percentile(found, 10) if found else None,
        p50=percentile(found, 50) if found else None,
        p90=percentile(found, 90) if found else None,
        adjacent_frame_consistency=float(np.mean(pairs)) if pairs else None,
        no_face_fraction=(len(frames) - len(found)) / len(frames) if frames else 1.0,
    )


async def score_video(
    engine: FaceEngine,
    reader: VideoReader,
    identities: list[tuple[str, FloatArray]],
    sample_frames: int,
) -> VideoScore:
    indices = sample_indices(reader.info.frame_count, sample_frames or DEFAULT_SAMPLE_FRAMES)
    references = np.stack([z_id for _, z_id in identities]).astype(np.float32)
    max_faces = engine.settings.max_faces_per_frame

    async def score_frame(image: np.ndarray) -> tuple[dict[int, float], dict[int, FloatArray]]:
        faces, embeddings = await engine.analyse(image, max_faces)
        if not faces:
            return {}, {}
        similarities = references @ embeddings.T
        assignment = assign_faces(similarities)
        return (
            {row: float(similarities[row, column]) for row, column in assignment.items()},
            {row: embeddings[column] for row, column in assignment.items()},
        )

    # A few frames are in flight at once (detection of later frames overlaps embedding of earlier
    # ones) while decoding goes on; the window bounds how many decoded frames are held in memory.
    frames: list[VideoFrame] = []
    pending: list[asyncio.Task[tuple[dict[int, float], dict[int, FloatArray]]]] = []
    decoder = reader.frames(indices)
    try:
        while True:
            frame = await asyncio.to_thread(next, decoder, None)
            if frame is None:
                break
            frames.append(VideoFrame(frame.index, frame.timestamp_s, _NO_PIXELS))
            pending.append(asyncio.create_task(score_frame(frame.image)))
            if sum(not task.done() for task in pending) >= FRAMES_IN_FLIGHT:
                await asyncio.wait(
                    [task for task in pending if not task.done()], return_when=asyncio.FIRST_COMPLETED
                )
        results = await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()
        with contextlib.suppress(ValueError):  # still running in a worker thread after a cancellation
            decoder.close()
    scores = []
    for row, (label, _) in enumerate(identities):
        frame_scores = [
            FrameScore(frame.index, frame.timestamp_s, similarities.get(row))
            for frame, (similarities, _) in zip(frames, results, strict=True)
        ]
        assigned = [embeddings.get(row) for _, embeddings in results]
        scores.append(summarise(label, frame_scores, assigned))
    return VideoScore(scores, len(frames), reader.info, engine.pack_id)
