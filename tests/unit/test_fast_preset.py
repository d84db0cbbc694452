"""The fast preset on the tiny model: diffusers' MagCache on both experts skips steps, switched on per
request, with nothing left over for the next request (random weights: this shows the mechanism, not the
quality a real checkpoint keeps)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from likeness.generator.model import fastcache
from likeness.generator.model.video import DenoisingInterrupted, WanVideoModel
from likeness.generator.shots import ShotRequest
from tests.unit.test_video_model import character, max_difference, png, shot

STEPS = 16


def fast(request: ShotRequest) -> ShotRequest:
    return dataclasses.replace(request, preset="fast")


@pytest.fixture(scope="module")
def model() -> WanVideoModel:
    return WanVideoModel.tiny(seed=0, draft=False)


@pytest.fixture(scope="module")
def plain() -> WanVideoModel:
    """The same weights without the step cache's hooks."""
    return WanVideoModel.tiny(seed=0, draft=False, fast=False)


def test_fast_skips_steps_of_both_experts_and_stays_close_to_final(model: WanVideoModel) -> None:
    request = shot(character(1), steps=STEPS)
    (final,) = model.denoise([request], output_type="latent")
    assert fastcache.skipped_passes(model.pipeline) == {"transformer": 0, "transformer_2": 0}
    (cached,) = model.denoise([fast(request)], output_type="latent")
    skipped = fastcache.skipped_passes(model.pipeline)
    assert skipped["transformer"] > 0 and skipped["transformer_2"] > 0, skipped
    final, cached = np.asarray(final), np.asarray(cached)
    relative = np.abs(cached - final).mean() / np.abs(final).mean()
    assert 0 < relative < 0.1, relative


def test_final_with_the_hooks_is_the_model_without_them_exactly(
    model: WanVideoModel, plain: WanVideoModel
) -> None:
    request = shot(character(1), steps=STEPS)
    model.denoise([fast(request)])  # a fast request first leaves nothing behind
    (with_hooks,) = model.denoise([request])
    (without,) = plain.denoise([request])
    assert max_difference(np.asarray(with_hooks), np.asarray(without)) == 0.0


def test_a_cancelled_fast_request_leaves_nothing_for_the_next(model: WanVideoModel) -> None:
    request = fast(shot(character(1), steps=STEPS))
    (first,) = model.denoise([request])
    with pytest.raises(DenoisingInterrupted):
        model.denoise([request], should_stop=lambda: True)
    (again,) = model.denoise([request])
    assert max_difference(np.asarray(first), np.asarray(again)) == 0.0


def test_without_the_cache_fast_is_refused_and_with_reference_photos_too(
    model: WanVideoModel, plain: WanVideoModel
) -> None:
    assert model.info.presets == ("final", "fast")
    assert plain.info.presets == ("final",)
    with pytest.raises(ValueError, match="does not serve the 'fast' preset"):
        plain.generate(fast(shot(character(1))))
    with pytest.raises(ValueError, match="reference photos need final"):
        model.generate(fast(shot(character(1, reference_images=(png(1),)))))


def test_compiled_blocks_sit_beneath_the_hooks(tmp_path: Path) -> None:
    compiled = WanVideoModel.tiny(seed=0, draft=False, vace=False)
    compiled.optimise(compile=True)
    eager = WanVideoModel.tiny(seed=0, draft=False, vace=False)
    for request in (fast(shot(character(1), steps=STEPS)), shot(character(1), steps=STEPS)):
        (got,) = compiled.denoise([request], output_type="latent")
        (want,) = eager.denoise([request], output_type="latent")
        assert np.allclose(np.asarray(got), np.asarray(want), atol=1e-4), request.preset
    assert fastcache.skipped_passes(compiled.pipeline)["transformer_2"] == 0  # final ran last


def test_the_curves_are_cut_per_expert_and_a_calibrated_file_replaces_them(tmp_path: Path) -> None:
    curves = fastcache.expert_ratios()
    assert len(curves["transformer"]) == fastcache.WAN22_T2V_A14B_HIGH_STEPS
    assert len(curves["transformer"]) + len(curves["transformer_2"]) == 40
    assert curves["transformer"][0] == curves["transformer_2"][0] == 1.0
    assert min(curves["transformer_2"][1:]) > 0.75  # the jump between experts is not in either curve
    assert fastcache.load_ratios(tmp_path) == curves
    calibrated = {"transformer": [1.0, 0.99], "transformer_2": [1.0, 0.98, 0.97]}
    (tmp_path / fastcache.FAST_CACHE_FILE).write_text(json.dumps(calibrated))
    assert fastcache.load_ratios(tmp_path) == calibrated
    (tmp_path / fastcache.FAST_CACHE_FILE).write_text(json.dumps({"transformer": []}))
    with pytest.raises(ValueError, match="expected"):
        fastcache.load_ratios(tmp_path)
