"""Clips as H.264 MP4 (PyAV): encode a shot's frames, decode a stored clip, stitch shots into one."""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

#: Constant quality; visually lossless for review copies, small for tiny test clips.
CRF = "18"


def encode_mp4(frames: np.ndarray, fps: int) -> bytes:
    """uint8 RGB frames (n, h, w, 3) → H.264 MP4 (yuv420p; odd sizes are padded by one pixel)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (n, h, w, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1] + frames.shape[1] % 2, frames.shape[2] + frames.shape[2] % 2
    if (height, width) != frames.shape[1:3]:
        frames = np.pad(
            frames, ((0, 0), (0, height - frames.shape[1]), (0, width - frames.shape[2]), (0, 0)), "edge"
        )
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": CRF, "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def decode_mp4(data: bytes) -> tuple[np.ndarray, float]:
    """An MP4's frames as uint8 RGB (n, h, w, 3), and its frame rate."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.base_rate or 16)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    if not frames:
        raise ValueError("the clip has no frames")
    return np.stack(frames), rate


def stitch(shots: Sequence[np.ndarray], fps: int, crossfade_s: float | None) -> np.ndarray:
    """Shots in order, joined by cuts or by linear crossfades of ``crossfade_s`` seconds."""
    if not shots:
        raise ValueError("nothing to stitch")
    overlap = 0 if not crossfade_s else max(1, round(crossfade_s * fps))
    if overlap and any(len(shot) <= overlap for shot in shots):
        raise ValueError("a crossfade must be shorter than the shortest shot")
    result = shots[0].astype(np.float32)
    for shot in shots[1:]:
        following = shot.astype(np.float32)
        if overlap:
            weights = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1].reshape(-1, 1, 1, 1)
            blended = result[-overlap:] * (1 - weights) + following[:overlap] * weights
            result = np.concatenate([result[:-overlap], blended, following[overlap:]])
        else:
            result = np.concatenate([result, following])
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """One uint8 RGB image (h, w, 3) as PNG."""
    codec = av.CodecContext.create("png", "w")
    codec.width = image.shape[1]
    codec.height = image.shape[0]
    codec.pix_fmt = "rgb24"
    packets = codec.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"))
    packets += codec.encode(None)
    return b"".join(bytes(packet) for packet in packets)
