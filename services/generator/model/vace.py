"""The reference-photo path's inputs (WanVACEPipeline): photos decoded for the pipeline, a blank one for
warming the path up, and each sample's initial noise drawn from its own seed."""

from __future__ import annotations

import io
from typing import Any

import torch

from likeness.generator.shots import ShotRequest


def grey_png(height: int, width: int) -> bytes:
    """A mid-grey PNG: a stand-in reference photo for warming up the VACE experts."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_image(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def vace_noise(pipeline: Any, shot: ShotRequest, references: int, generators: list[torch.Generator]) -> Any:
    """Initial noise as WanVACEPipeline.prepare_latents draws it, one generator per sample."""
    from diffusers.utils.torch_utils import randn_tensor

    frames = shot.num_frames + references * pipeline.vae_scale_factor_temporal
    shape = (
        1,
        pipeline.transformer.config.in_channels,
        (frames - 1) // pipeline.vae_scale_factor_temporal + 1,
        shot.height // pipeline.vae_scale_factor_spatial,
        shot.width // pipeline.vae_scale_factor_spatial,
    )
    device = pipeline._execution_device
    return torch.cat(
        [
            randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
            for generator in generators
        ]
    )
