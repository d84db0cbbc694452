"""Clips for training and evaluation: read and resize footage, write frames as a clip, and make short
moving clips from still photos (for tests and demos)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

RgbClip = NDArray[np.uint8]


def resize_crop(image: NDArray[np.uint8], height: int, width: int) -> NDArray[np.uint8]:
    """The image scaled to cover ``height`` x ``width`` and cropped to it about its centre."""
    source_height, source_width = image.shape[:2]
    scale = max(height / source_height, width / source_width)
    scaled_width = max(width, round(source_width * scale))
    scaled_height = max(height, round(source_height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(image, (scaled_width, scaled_height), interpolation=interpolation)
    top = (scaled_height - height) // 2
    left = (scaled_width - width) // 2
    return np.ascontiguousarray(scaled[top : top + height, left : left + width])


def read_clip(path: str | Path, frames: int) -> tuple[RgbClip, tuple[int, int]]:
    """The first ``frames`` frames of a video file (F, H, W, 3) RGB, and its source (height, width).

    Raises ValueError when the file cannot be read or is shorter than ``frames``.
    """
    import imageio.v3 as iio

    images: list[NDArray[np.uint8]] = []
    try:
        for image in iio.imiter(path, plugin="pyav"):
            images.append(np.asarray(image, dtype=np.uint8)[..., :3])
            if len(images) == frames:
                break
    except (OSError, ValueError, RuntimeError) as error:
        raise ValueError(f"clip cannot be read: {error}") from None
    if len(images) < frames:
        raise ValueError(f"clip has {len(images)} frames, at least {frames} needed")
    return np.stack(images), images[0].shape[:2]


def synthetic_clip(photo_bgr: NDArray[np.uint8], frames: int, height: int, width: int, seed: int) -> RgbClip:
    """A ``frames``-long clip (F, H, W, 3) RGB of a still photo under a slow pan and zoom.

    The camera starts on the photo's centre, covering the frame, and drifts in a seeded direction by up
    to a tenth of the frame while zooming in by 5 to 15%.
    """
    rng = np.random.default_rng(seed)
    rgb = np.ascontiguousarray(photo_bgr[..., ::-1])
    source_height, source_width = rgb.shape[:2]
    cover = max(height / source_height, width / source_width) * 1.1
    zoom = float(rng.uniform(0.05, 0.15))
    angle = float(rng.uniform(0, 2 * math.pi))
    drift = 0.1 * min(height, width) / cover
    centre_x, centre_y = source_width / 2, source_height / 2
    clip = np.empty((frames, height, width, 3), dtype=np.uint8)
    for index in range(frames):
        progress = index / max(frames - 1, 1)
        scale = cover * (1 + zoom * progress)
        look_x = centre_x + drift * progress * math.cos(angle)
        look_y = centre_y + drift * progress * math.sin(angle)
        matrix = np.array(
            [[scale, 0.0, width / 2 - scale * look_x], [0.0, scale, height / 2 - scale * look_y]],
            dtype=np.float64,
        )
        clip[index] = cv2.warpAffine(
            rgb, matrix, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
        )
    return clip


def write_clip(path: str | Path, frames_rgb: RgbClip, fps: int = 16) -> None:
    """Write frames (F, H, W, 3) RGB as an H.264 MP4 of high quality (even sides needed)."""
    import av

    count, height, width = frames_rgb.shape[:3]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10", "preset": "veryfast"}
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames_rgb[index]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# --- encoders -------------------------------------------------------------------------------------------
