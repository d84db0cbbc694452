"""The video model on the tiny random Wan 2.2 (CPU): the identity adapter against the stock pipelines."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from likeness.generator.model.adapter import (
    MAX_CHARACTERS,
    IdentityAdapter,
    IdentityAttnProcessor,
    identity_bank,
)
from likeness.generator.model.regions import identity_regions, region_masks
from likeness.generator.model.tiny import BOUNDARY_RATIO, tiny_pipeline
from likeness.generator.model.video import DenoisingInterrupted, WanVideoModel
from likeness.generator.shots import CharacterConditioning, ShotRequest, SynthesisRequest

PROMPT = "a woman walks along a beach at dusk"
NEGATIVE = "blurry, distorted"


def identity(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return vector / np.linalg.norm(vector)


def character(seed: int, strength: float = 0.8, **fields: Any) -> CharacterConditioning:
    return CharacterConditioning(
        character_id=f"c{seed}", z_id=identity(seed), identity_strength=strength, **fields
    )


def shot(*characters: CharacterConditioning, seed: int = 7, steps: int = 4, **fields: Any) -> ShotRequest:
    values: dict[str, Any] = {
        "request_id": "shot",
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "num_frames": 9,
        "height": 64,
        "width": 64,
        "seed": seed,
        "num_inference_steps": steps,
        "guidance_scale": 5.0,
        "characters": characters,
    }
    values.update(fields)
    return ShotRequest(**values)


def png(seed: int) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model() -> WanVideoModel:
    return WanVideoModel.tiny(seed=0)


@pytest.fixture(scope="module")
def stock_frames() -> np.ndarray:
    """The stock diffusers WanPipeline (no adapter installed) on the same tiny weights, seed 7."""
    pipeline = tiny_pipeline(seed=0)
    pipeline.set_progress_bar_config(disable=True)
    output = pipeline(
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        num_frames=9,
        height=64,
        width=64,
        num_inference_steps=4,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
    )
    frames: np.ndarray = output.frames[0]
    return frames


def max_difference(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.abs(first.astype(np.float64) - second.astype(np.float64)).max())


def test_strength_zero_is_the_stock_pipeline_exactly(model: WanVideoModel, stock_frames: np.ndarray) -> None:
    for characters in ((), (character(1, 0.0),), (character(1, 0.0), character(2, 0.0))):
        (frames,) = model.denoise([shot(*characters)])
        assert max_difference(frames, stock_frames) == 0.0


def test_the_adapter_changes_the_output_and_a_different_identity_changes_it_again(
    model: WanVideoModel, stock_frames: np.ndarray
) -> None:
    (first,) = model.denoise([shot(character(1))])
    (again,) = model.denoise([shot(character(1))])
    (other,) = model.denoise([shot(character(2))])
    assert max_difference(first, again) == 0.0
    assert max_difference(first, stock_frames) > 1e-3
    assert max_difference(first, other) > 1e-3
    (weaker,) = model.denoise([shot(character(1, 0.4))])
    assert max_difference(first, weaker) > 1e-3


def test_a_fresh_adapter_changes_nothing_because_to_v_id_starts_at_zero(stock_frames: np.ndarray) -> None:
    fresh = IdentityAdapter.for_transformer(tiny_pipeline(seed=0).transformer)
    for blocks in fresh.blocks.values():
        for block in blocks:
            assert not block.to_v_id.weight.any() and not block.to_v_id.bias.any()  # type: ignore[union-attr]
    untrained = WanVideoModel.tiny(seed=0, vace=False, adapter=fresh)
    (frames,) = untrained.denoise([shot(character(1, 0.8))])
    assert max_difference(frames, stock_frames) < 1e-6


def test_both_experts_run_across_the_boundary_with_the_identity(model: WanVideoModel) -> None:
    calls = {"transformer": 0, "transformer_2": 0}
    hooks = []
    for name in calls:

        def count(module: Any, args: Any, name: str = name) -> None:
            calls[name] += 1

        hooks.append(getattr(model.pipeline, name).register_forward_pre_hook(count))
    context = model.identity_context
    context.identity_calls.clear()
    try:
        model.denoise([shot(character(1), steps=4)])
    finally:
        for hook in hooks:
            hook.remove()
    scheduler = model.pipeline.scheduler
    scheduler.set_timesteps(4)
    high = int((scheduler.timesteps >= BOUNDARY_RATIO * 1000).sum())
    assert 0 < high < 4
    # Each step runs its expert twice (conditional and unconditional, guidance 5).
    assert calls == {"transformer": 2 * high, "transformer_2": 2 * (4 - high)}
    # The identity goes into every block's attn2 on the conditional pass only.
    layers = len(model.pipeline.transformer.blocks)
    assert context.identity_calls == {"transformer": high * layers, "transformer_2": (4 - high) * layers}


def test_adapter_save_then_load_gives_identical_output(model: WanVideoModel, tmp_path: Path) -> None:
    assert model.adapter is not None
    saved = model.adapter.save(tmp_path)
    loaded = IdentityAdapter.load(saved)
    assert loaded.config == model.adapter.config
    original_state = model.adapter.state_dict()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, original_state[name]), name
    reloaded = WanVideoModel.tiny(seed=0, vace=False, adapter=loaded)
    request = shot(character(1), character(2, 0.5))
    (expected,) = model.denoise([request])
    (actual,) = reloaded.denoise([request])
    assert max_difference(expected, actual) == 0.0


def test_a_file_that_is_not_an_adapter_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not an identity adapter"):
        IdentityAdapter.load(path)


def test_each_sample_of_a_batch_keeps_its_own_identity(model: WanVideoModel) -> None:
    first, second = shot(character(1), seed=7), shot(character(2), seed=8, prompt="a man rides a bicycle")
    batch = model.denoise([first, second])
    (alone_first,) = model.denoise([first])
    (alone_second,) = model.denoise([second])
    # Batched and single runs agree up to float rounding; the two samples differ far more than that.
    assert max_difference(batch[0], alone_first) < 1e-4
    assert max_difference(batch[1], alone_second) < 1e-4
    (second_with_first_identity,) = model.denoise(
        [shot(character(1), seed=8, prompt="a man rides a bicycle")]
    )
    assert max_difference(batch[1], second_with_first_identity) > 1e-3


def test_a_sample_without_identity_in_a_batch_is_the_plain_model(
    model: WanVideoModel, stock_frames: np.ndarray
) -> None:
    batch = model.denoise([shot(), shot(character(2))])
    assert max_difference(batch[0], stock_frames) < 1e-4
    assert max_difference(batch[1], stock_frames) > 1e-3


def test_several_characters_each_keep_their_own_token_bank(model: WanVideoModel) -> None:
    (both,) = model.denoise([shot(character(1), character(2))])
    (swapped,) = model.denoise([shot(character(2), character(1))])
    (only_first,) = model.denoise([shot(character(1))])
    (second_off,) = model.denoise([shot(character(1), character(2, 0.0))])
    assert max_difference(both, swapped) < 1e-5
    assert max_difference(both, only_first) > 1e-3
    assert max_difference(second_off, only_first) < 1e-5


LEFT_HALF = (0.0, 0.0, 0.5, 1.0)
RIGHT_HALF = (0.5, 0.0, 0.5, 1.0)


def test_region_masks_follow_the_transformers_patch_order() -> None:
    grid = (2, 4, 6)  # frames, rows, columns of latent patches
    regions = identity_regions([[LEFT_HALF, (0.5, 0.25, 0.5, 0.5)], [None]])
    masks = region_masks(regions, grid)
    assert masks.shape == (2, 2, 2 * 4 * 6)
    for token in range(2 * 4 * 6):
        row, column = divmod(token % 24, 6)
        assert masks[0, 0, token] == (column < 3)
        assert masks[0, 1, token] == (column >= 3 and 1 <= row < 3)
        assert masks[1, 0, token] == 1 and masks[1, 1, token] == 1  # no region, and a padded slot
    with pytest.raises(ValueError, match="inside the frame"):
        identity_regions([[(0.6, 0.0, 0.5, 1.0)]])


def test_a_character_with_a_region_changes_only_the_patches_inside_it(model: WanVideoModel) -> None:
    pipeline = model.pipeline
    attn = pipeline.transformer.blocks[0].attn2
    assert isinstance(attn.processor, IdentityAttnProcessor)
    grid = (2, 4, 6)
    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(1, 2 * 4 * 6, attn.inner_dim, generator=generator)
    text = torch.randn(1, 8, attn.inner_dim, generator=generator)
    context = model.identity_context
    with torch.no_grad():
        plain = attn(hidden, text)
        tokens, strengths = identity_bank(
            model.adapter, [[(torch.from_numpy(identity(1)), 0.8)]], "cpu", torch.float32
        )
        with context.use(tokens, strengths, regions=identity_regions([[LEFT_HALF]])):
            context.grid = grid
            placed = attn(hidden, text)
        with context.use(tokens, strengths):
            context.grid = grid
            everywhere = attn(hidden, text)
    inside = region_masks(identity_regions([[LEFT_HALF]]), grid)[0, 0].bool()
    assert torch.allclose(placed[0, ~inside], plain[0, ~inside], atol=1e-6)
    assert (placed[0, inside] - plain[0, inside]).abs().max() > 1e-4
    assert torch.allclose(placed[0, inside], everywhere[0, inside], atol=1e-6)


def test_characters_placed_side_by_side_are_not_the_characters_everywhere(model: WanVideoModel) -> None:
    (anywhere,) = model.denoise([shot(character(1), character(2))])
    (placed,) = model.denoise([shot(character(1, region=LEFT_HALF), character(2, region=RIGHT_HALF))])
    (swapped,) = model.denoise([shot(character(1, region=RIGHT_HALF), character(2, region=LEFT_HALF))])
    (whole_frame,) = model.denoise([shot(character(1, region=(0.0, 0.0, 1.0, 1.0)), character(2))])
    assert max_difference(placed, anywhere) > 1e-3
    assert max_difference(placed, swapped) > 1e-3
    assert max_difference(whole_frame, anywhere) == 0.0


def test_more_than_eight_characters_are_refused(model: WanVideoModel) -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_CHARACTERS}"):
        model.generate(shot(*(character(seed) for seed in range(MAX_CHARACTERS + 1))))


def test_reference_photos_go_through_the_vace_pipeline(model: WanVideoModel) -> None:
    assert model.info.supports_reference_images
    plain = model.generate(shot(character(1)))
    referenced = model.generate(shot(character(1, reference_images=(png(1),))))
    other_photo = model.generate(shot(character(1, reference_images=(png(2),))))
    weaker = model.generate(shot(character(1, reference_images=(png(1),), reference_conditioning_scale=0.2)))
    assert referenced.frames.shape == plain.frames.shape == (9, 64, 64, 3)
    assert referenced.frames.dtype == np.uint8
    assert max_difference(referenced.frames, plain.frames) > 0
    assert max_difference(referenced.frames, other_photo.frames) > 0
    assert max_difference(referenced.frames, weaker.frames) > 0
    assert referenced.model.random_weights


def test_the_identity_adapter_also_conditions_the_vace_experts(model: WanVideoModel) -> None:
    photo = (png(1),)
    (off,) = model.denoise([shot(character(1, 0.0, reference_images=photo))])
    (on,) = model.denoise([shot(character(1, 0.8, reference_images=photo))])
    assert max_difference(off, on) > 1e-3


def test_a_model_without_vace_refuses_reference_photos() -> None:
    plain = WanVideoModel.tiny(seed=0, vace=False)
    assert not plain.info.supports_reference_images
    with pytest.raises(ValueError, match="reference photos"):
        plain.generate(shot(character(1, reference_images=(png(1),))))


def test_every_step_is_reported_and_a_stop_request_ends_denoising_after_that_step(
    model: WanVideoModel,
) -> None:
    steps: list[tuple[int, int]] = []
    frames = model.generate(shot(steps=4), on_step=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert frames.frames.shape == (9, 64, 64, 3)
    assert frames.model.random_weights and frames.model.model_id == "tiny-wan2.2-random"

    steps.clear()
    with pytest.raises(DenoisingInterrupted) as interrupted:
        model.generate(
            shot(steps=20),
            on_step=lambda step, total: steps.append((step, total)),
            should_stop=lambda: len(steps) >= 3,
        )
    assert interrupted.value.steps_done == 3
    assert len(steps) == 3


def test_synthesize_returns_one_frame_per_candidate(model: WanVideoModel) -> None:
    result = model.synthesize(
        SynthesisRequest(
            request_id="s", description="a man of about forty", count=2, seed=3, height=64, width=64
        )
    )
    assert result.frames.shape == (2, 64, 64, 3)
    assert max_difference(result.frames[0], result.frames[1]) > 0
    assert result.model.random_weights


def test_the_model_serves_one_request_at_a_time(model: WanVideoModel) -> None:
    context = model.identity_context
    tokens = torch.zeros(1, 1, 4, 16)
    with context.use(tokens, torch.ones(1, 1)), pytest.raises(RuntimeError, match="already serving"):
        with context.use(tokens, torch.ones(1, 1)):
            pass


def test_weights_load_from_a_local_directory_with_the_model_card(
    model: WanVideoModel, tmp_path: Path
) -> None:
    from likeness.generator.model.loading import Placement

    model.save_pretrained(tmp_path)
    assert (tmp_path / "model_index.json").is_file() and (tmp_path / "vace" / "model_index.json").is_file()
    # "cpu:0" is not "cpu": the low-noise experts run behind the hook that a second GPU would need.
    loaded = WanVideoModel.from_pretrained(tmp_path, placement=Placement.for_devices(["cpu", "cpu:0"]))
    assert hasattr(loaded.pipeline.transformer_2, "_hf_hook")
    assert not hasattr(loaded.pipeline.transformer, "_hf_hook")
    assert loaded.info == model.info
    assert loaded.info.random_weights
    for request in (shot(character(1)), shot(character(1, reference_images=(png(1),)))):
        (expected,) = model.denoise([request])
        (actual,) = loaded.denoise([request])
        # The text encoder loads with transformers' default attention kernel: rounding differs slightly.
        assert max_difference(expected, actual) < 1e-5


def test_a_directory_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model_index\.json"):
        WanVideoModel.from_pretrained(tmp_path)
