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


def residual_ratios(model: WanVideoModel, request: ShotRequest) -> dict[str, list[list[float]]]:
    """Per expert, per step, the ratio MagCache's calibration defines, computed here from the blocks'
    own input and output (torch hooks): mean over tokens of |residual now| / |residual a step ago|, for
    the conditional and the unconditional pass apart ([cond, uncond] per step)."""
    import torch

    residuals: dict[str, list[torch.Tensor]] = {name: [] for name in fastcache.EXPERTS}
    handles = []
    for name in fastcache.EXPERTS:
        expert = getattr(model.pipeline, name)
        entering: list[torch.Tensor] = []
        handles.append(expert.blocks[0].register_forward_pre_hook(
            lambda _m, args, kwargs, entering=entering: entering.append(args[0]), with_kwargs=True
        ))  # fmt: skip
        handles.append(expert.blocks[-1].register_forward_hook(
            lambda _m, _a, output, name=name, entering=entering: residuals[name].append(
                (output[0] if isinstance(output, tuple) else output) - entering.pop()
            )
        ))  # fmt: skip
    try:
        model.denoise([request], output_type="latent")
    finally:
        for handle in handles:
            handle.remove()
    ratios: dict[str, list[list[float]]] = {}
    for name, found in residuals.items():
        passes = [found[0::2], found[1::2]]  # the pipeline runs cond then uncond at every step
        ratios[name] = [[1.0, 1.0]] + [
            [
                float((each[step].float().norm(dim=-1) / (each[step - 1].float().norm(dim=-1) + 1e-8)).mean())
                for each in passes
            ]
            for step in range(1, len(passes[0]))
        ]
    return ratios


def test_calibration_measures_each_experts_residual_ratios_and_changes_nothing_served(
    model: WanVideoModel,
) -> None:
    requests = [shot(character(1), steps=STEPS, seed=seed) for seed in (3, 4)]
    served = {name: list(values) for name, values in model.fast_ratios.items()}
    curves = model.calibrate_fast(requests)

    high = fastcache.high_noise_steps(model.pipeline, STEPS)
    assert len(curves["transformer"]) == high and len(curves["transformer_2"]) == STEPS - high
    measured = [residual_ratios(model, request) for request in requests]
    for name in fastcache.EXPERTS:
        expected = np.mean([[np.mean(step) for step in run[name]] for run in measured], axis=0)
        assert np.allclose(curves[name], expected, rtol=1e-5), name
        assert curves[name][0] == 1.0 and len(set(curves[name])) > 2  # a real curve, not a constant
    # What the model serves is untouched: its curve, final exactly, fast still skipping.
    assert model.fast_ratios == served
    request = shot(character(1), steps=STEPS)
    (before,) = WanVideoModel.tiny(seed=0, draft=False).denoise([request], output_type="latent")
    (after,) = model.denoise([request], output_type="latent")
    assert max_difference(np.asarray(before), np.asarray(after)) == 0.0
    model.denoise([fast(request)], output_type="latent")
    assert all(count > 0 for count in fastcache.skipped_passes(model.pipeline).values())


def test_calibration_is_refused_where_it_would_measure_the_wrong_thing(
    model: WanVideoModel, plain: WanVideoModel
) -> None:
    with pytest.raises(ValueError, match="without the fast preset"):
        plain.calibrate_fast([shot(character(1))])
    with pytest.raises(ValueError, match="runs the final preset"):
        model.calibrate_fast([fast(shot(character(1)))])


def test_likeness_model_calibrate_fast_writes_the_curve_a_replica_then_serves(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from likeness.cli.main import app

    model_dir = WanVideoModel.tiny(seed=0, draft=False, vace=False).save_pretrained(tmp_path / "model")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person waves\n\na person nods\n")
    arguments = ["model", "calibrate-fast", str(model_dir), "--prompts", str(prompts), "--device", "cpu",
                 "--steps", "8", "--height", "64", "--width", "64", "--frames", "9"]  # fmt: skip
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "weights are random" in result.output and "from 2 prompts" in result.output
    written = json.loads((model_dir / fastcache.FAST_CACHE_FILE).read_text())
    loaded = WanVideoModel.from_pretrained(model_dir, placement=None)
    assert loaded.fast_ratios == written
    high = fastcache.high_noise_steps(loaded.pipeline, 8)
    assert len(written["transformer"]) == high and len(written["transformer_2"]) == 8 - high
    assert written != fastcache.expert_ratios()


def test_tuned_kernels_reach_inductor_and_compiled_output_stays_the_eager_one() -> None:
    import torch._inductor.config as inductor_config

    from likeness.generator.serve_app import prepare_model

    compiled = WanVideoModel.tiny(seed=0, draft=False, vace=False)
    eager = WanVideoModel.tiny(seed=0, draft=False, vace=False)
    assert inductor_config.coordinate_descent_tuning is False
    try:
        prepare_model({"compile": True, "tuned_kernels": True}, compiled)
        assert inductor_config.coordinate_descent_tuning is True
        request = shot(character(1), steps=STEPS)
        (got,) = compiled.denoise([request], output_type="latent")
        (want,) = eager.denoise([request], output_type="latent")
        assert np.allclose(np.asarray(got), np.asarray(want), atol=1e-4)
    finally:
        inductor_config.coordinate_descent_tuning = False
