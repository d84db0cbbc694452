"""Safe decoding of untrusted photos and videos into BGR pixel arrays.

Photos: JPEG, PNG and WebP only (told by their signatures), the byte cap checked before parsing and
the pixel cap checked on the header before any pixel is decoded (so a small file that claims a huge
canvas is refused cheaply), EXIF orientation applied. Videos: MP4 only, frames sampled evenly and
decoded one at a time so memory stays bounded.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray
from PIL import (
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

BgrImage = NDArray[np.uint8]
ALLOWED_IMAGE_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}


class MediaError(ValueError):
    """The bytes are not an acceptable photo or video; the message says why, for the caller."""


def _header_size(data: bytes) -> tuple[str, int, int]:
    """Width and height from the header alone, through the format's own Pillow parser (which,
    unlike ``Image.open``, applies no global pixel limit of its own)."""
    parser: type[ImageFile.ImageFile]
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind, parser = "PNG", PngImagePlugin.PngImageFile
    elif data.startswith(b"\xff\xd8\xff"):
        kind, parser = "JPEG", JpegImagePlugin.JpegImageFile
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind, parser = "WebP", WebPImagePlugin.WebPImageFile
    else:
        raise MediaError("not a JPEG, PNG or WebP image")
    try:
        with parser(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError, EOFError, struct.error):
        raise MediaError(f"{kind} header is corrupt or truncated") from None
    return kind, width, height


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int, min_side_px: int) -> BgrImage:
    """Decode a JPEG, PNG or WebP photo into an upright BGR array."""
    if len(data) > max_bytes:
        raise MediaError(f"photo is {len(data)} bytes, at most {max_bytes} allowed")
    kind, width, height = _header_size(data)
    if width * height > max_pixels:
        raise MediaError(
            f"photo is {width}x{height} pixels ({width * height} pixels), at most {max_pixels} allowed"
        )
    if min(width, height) < min_side_px:
        raise MediaError(f"photo is {width}x{height} pixels, at least {min_side_px}x{min_side_px} needed")
    with warnings.catch_warnings():
        # Pillow warns (then raises) on huge canvases; the explicit check below speaks first.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_IMAGE_FORMATS)) as image:
                if image.size != (width, height):
                    raise MediaError("image header is inconsistent")
                image.seek(0)
                upright = ImageOps.exif_transpose(image)
                rgb = upright.convert("RGB")
        except MediaError:
            raise
        except UnidentifiedImageError:
            raise MediaError("not a JPEG, PNG or WebP image") from None
        except Image.DecompressionBombError as error:
            # Pillow's own guard fired while reading the header: far beyond our cap too.
            raise MediaError(f"photo is too large ({error}); at most {max_pixels} pixels allowed") from None
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise MediaError(f"{kind} data is corrupt or truncated ({error})") from None
    array = np.asarray(rgb, dtype=np.uint8)
    return np.ascontiguousarray(array[:, :, ::-1])


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    fps: float
    frame_count: int
    width_px: int
    height_px: int


@dataclass(frozen=True)
class VideoFrame:
    index: int
    timestamp_s: float
    image: BgrImage


def sample_indices(frame_count: int, samples: int) -> list[int]:
    """``samples`` frame indices spread evenly from the first to the last frame (all when fewer)."""
    if frame_count <= samples:
        return list(range(frame_count))
    positions = np.linspace(0, frame_count - 1, samples)
    return sorted({round(position) for position in positions})


class VideoReader:
    """An MP4 in memory: its facts at once, then the sampled frames on demand."""

    def __init__(self, data: bytes, *, max_bytes: int, max_frame_pixels: int, max_frames: int) -> None:
        import av

        if len(data) > max_bytes:
            raise MediaError(f"video is {len(data)} bytes, at most {max_bytes} allowed")
        self._data = data
        try:
            container = av.open(io.BytesIO(data), mode="r", format="mp4")
        except (av.error.FFmpegError, OSError, ValueError) as error:
            raise MediaError(f"not a decodable MP4 ({error})") from None
        try:
            if not container.streams.video:
                raise MediaError("the MP4 has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width <= 0 or height <= 0:
                raise MediaError("the MP4's video stream has no frame size")
            if width * height > max_frame_pixels:
                raise MediaError(
                    f"video frames are {width}x{height} pixels, at most {max_frame_pixels} pixels allowed"
                )
            # Count frames from the packets: the header's count is missing or wrong in some files.
            frame_count = 0
            for packet in container.demux(stream):
                if packet.size > 0:
                    frame_count += 1
                    if frame_count > max_frames:
                        raise MediaError(f"video has more than {max_frames} frames")
        except av.error.FFmpegError as error:
            raise MediaError(f"not a decodable MP4 ({error})") from None
        finally:
            container.close()
        if frame_count == 0:
            raise MediaError("the MP4 has no video frames")
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif fps > 0:
            duration = frame_count / fps
        else:
            duration = 0.0
        self.info = VideoInfo(duration, fps, frame_count, width, height)

    def frames(self, indices: list[int]) -> Generator[VideoFrame]:
        """Decode the video once, yielding the frames at ``indices`` (ascending) as BGR arrays."""
        import av

        wanted = set(indices)
        last = max(indices) if indices else -1
        try:
            with av.open(io.BytesIO(self._data), mode="r", format="mp4") as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                start = (
                    float(stream.start_time * stream.time_base)
                    if stream.start_time is not None and stream.time_base is not None
                    else 0.0
                )
                for position, frame in enumerate(container.decode(stream)):
                    if position > last:
                        break
                    if position in wanted:
                        timestamp = float(frame.time) - start if frame.time is not None else 0.0
                        pixels = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                        yield VideoFrame(position, max(timestamp, 0.0), pixels)
        except av.error.FFmpegError as error:
            raise MediaError(f"the MP4 could not be decoded ({error})") from None
