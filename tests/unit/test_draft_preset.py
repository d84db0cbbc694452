"""The draft preset on the tiny model: a LoRA in Wan2.2-Lightning's key format in both experts, 4 steps of
one expert pass each (a random LoRA here: it exercises the path, it distils nothing)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from likeness.generator.model.draft import DRAFT_GUIDANCE, DRAFT_STEPS, lightning_lora, load_draft_lora
from likeness.generator.model.video import WanVideoModel
from likeness.generator.shots import ShotRequest
from tests.unit.test_video_model import character, max_difference, png, shot

EXPERTS = ("transformer", "transformer_2")


def draft(request: ShotRequest) -> ShotRequest:
    return dataclasses.replace(
        request, preset="draft", num_inference_steps=DRAFT_STEPS, guidance_scale=DRAFT_GUIDANCE
    )


@pytest.fixture(scope="module")
def model() -> WanVideoModel:
    return WanVideoModel.tiny(seed=0)


@pytest.fixture(scope="module")
def plain() -> WanVideoModel:
    """The same weights without the LoRA."""
    return WanVideoModel.tiny(seed=0, draft=False)


def test_the_lora_loads_into_both_experts_and_the_model_says_it_serves_draft(model: WanVideoModel) -> None:
    assert model.info.presets == ("final", "draft", "fast")
    for name in EXPERTS:
        expert = getattr(model.pipeline, name)
        assert "draft" in expert.peft_config, name
        assert type(expert.blocks[0].attn1.to_q).__module__.startswith("peft")


def test_a_draft_shot_runs_four_steps_of_one_expert_pass_each(model: WanVideoModel) -> None:
    calls: dict[str, int] = dict.fromkeys(EXPERTS, 0)
    hooks = []
    for name in EXPERTS:

        def count(module: Any, args: Any, name: str = name) -> None:
            calls[name] += 1

        hooks.append(getattr(model.pipeline, name).register_forward_pre_hook(count))
    steps: list[int] = []
    try:
        model.generate(draft(shot(character(1))), on_step=lambda step, total: steps.append(step))
    finally:
        for hook in hooks:
            hook.remove()
    assert steps == [1, 2, 3, 4]
    assert sum(calls.values()) == DRAFT_STEPS  # no unconditional pass
    assert calls["transformer"] >= 1 and calls["transformer_2"] >= 1  # both experts, each with its LoRA


def test_a_lora_of_zeros_reproduces_the_base_model_exactly(plain: WanVideoModel) -> None:
    zeroed = WanVideoModel.tiny(seed=0, draft=False)
    pipeline = zeroed.pipeline
    zeros = {name: lightning_lora(getattr(pipeline, name), zero=True) for name in EXPERTS}
    load_draft_lora(pipeline, zeros)
    zeroed = WanVideoModel(
        pipeline, adapter=zeroed.adapter, model_id="zero-lora", random_weights=True, draft_lora=zeros
    )
    request = draft(shot(character(1)))
    (with_zero_lora,) = zeroed.denoise([request])
    (base,) = plain.denoise([dataclasses.replace(request, preset="final")])
    assert max_difference(np.asarray(with_zero_lora), np.asarray(base)) == 0.0


def test_the_lora_acts_on_draft_shots_only(model: WanVideoModel, plain: WanVideoModel) -> None:
    request = draft(shot(character(1)))
    (drafted,) = model.denoise([request])
    (final_same_steps,) = model.denoise([dataclasses.replace(request, preset="final")])
    (base,) = plain.denoise([dataclasses.replace(request, preset="final")])
    assert max_difference(np.asarray(final_same_steps), np.asarray(base)) == 0.0
    assert max_difference(np.asarray(drafted), np.asarray(base)) > 1e-3


def test_a_deployment_without_the_lora_refuses_draft(plain: WanVideoModel) -> None:
    assert plain.info.presets == ("final", "fast")
    with pytest.raises(ValueError, match="does not serve the 'draft' preset"):
        plain.generate(draft(shot(character(1))))


def test_draft_with_reference_photos_is_refused(model: WanVideoModel) -> None:
    with pytest.raises(ValueError, match="reference photos need final"):
        model.generate(draft(shot(character(1, reference_images=(png(1),)))))
