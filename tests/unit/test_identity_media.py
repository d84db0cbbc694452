"""Safe photo decoding: formats, caps, EXIF orientation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from likeness.identity.media import MediaError, decode_image

CAPS = {"max_bytes": 1 << 20, "max_pixels": 1_000_000, "min_side_px": 32}


def _gradient(width: int, height: int) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    rgb = np.concatenate(
        [
            np.broadcast_to(x, (height, width, 1)),
            np.broadcast_to(y, (height, width, 1)),
            np.full((height, width, 1), 60, np.float32),
        ],
        axis=2,
    )
    return rgb.astype(np.uint8)


def _save(rgb: np.ndarray, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=format, **options)
    return buffer.getvalue()


def test_exif_orientation_is_applied() -> None:
    upright = _gradient(120, 80)
    # Stored rotated a quarter turn, with EXIF orientation 6 ("rotate 90° clockwise to display").
    stored = np.ascontiguousarray(np.rot90(upright, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_save(stored, "JPEG", quality=95, exif=exif), **CAPS)
    assert decoded.shape == (80, 120, 3)
    assert np.abs(decoded[:, :, ::-1].astype(int) - upright.astype(int)).mean() < 4


@pytest.mark.parametrize("format", ["PNG", "WEBP", "JPEG"])
def test_the_three_formats_decode_to_bgr(format: str) -> None:
    rgb = _gradient(64, 48)
    decoded = decode_image(_save(rgb, format, quality=95) if format != "PNG" else _save(rgb, format), **CAPS)
    assert decoded.shape == (48, 64, 3)
    assert np.abs(decoded[:, :, ::-1].astype(int) - rgb.astype(int)).mean() < 4


def test_caps_and_formats_are_enforced_before_pixels_are_decoded() -> None:
    with pytest.raises(MediaError, match="1048577 bytes, at most 1048576 allowed"):
        decode_image(b"\x00" * ((1 << 20) + 1), **CAPS)
    with pytest.raises(MediaError, match="2000x1000 pixels"):
        decode_image(_save(_gradient(2000, 1000), "PNG"), **CAPS)
    with pytest.raises(MediaError, match="not a JPEG, PNG or WebP"):
        decode_image(_save(_gradient(64, 64), "BMP"), **CAPS)
    with pytest.raises(MediaError, match=r"PNG (header|data) is corrupt or truncated"):
        noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        whole = _save(noise, "PNG")
        decode_image(whole[: len(whole) // 2], **CAPS)
