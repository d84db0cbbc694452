"""Screen regions: where in the frame a character's identity applies, as masks over the latent patches.

A region is (x, y, width, height), normalised, origin top-left; a patch belongs to it when its centre
lies inside, in every frame. Characters without a region get the whole frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: A region covering the whole frame: (x, y, width, height).
FULL_FRAME = (0.0, 0.0, 1.0, 1.0)


def region_masks(regions: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """(batch, characters, frames·height·width) masks, 1 where a latent patch's centre lies in the
    character's region ``regions`` (batch, characters, 4 as x, y, width, height), in the order a Wan
    transformer flattens its patches (frame, then row, then column)."""
    frames, height, width = grid
    rows = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    columns = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    x, y, w, h = (regions[..., index, None] for index in range(4))
    inside_rows = (rows >= y) & (rows < y + h)  # (batch, characters, height)
    inside_columns = (columns >= x) & (columns < x + w)  # (batch, characters, width)
    plane = inside_rows[..., :, None] & inside_columns[..., None, :]
    return plane.flatten(-2).repeat(1, 1, frames).float()


def identity_regions(regions: Sequence[Sequence[tuple[float, float, float, float] | None]]) -> torch.Tensor:
    """(batch, characters, 4) regions for ``IdentityContext.use``: ``regions[i]`` lists sample i's
    characters' (x, y, width, height), None for the whole frame; missing slots get the whole frame."""
    characters = max((len(sample) for sample in regions), default=0)
    table = torch.tensor(FULL_FRAME).repeat(len(regions), max(characters, 1), 1)
    for index, sample in enumerate(regions):
        for slot, region in enumerate(sample):
            if region is None:
                continue
            x, y, width, height = (float(value) for value in region)
            if not (0 <= x < 1 and 0 <= y < 1 and 0 < width <= 1 - x + 1e-6 and 0 < height <= 1 - y + 1e-6):
                raise ValueError(f"region {region} does not lie inside the frame")
            table[index, slot] = torch.tensor((x, y, width, height))
    return table
