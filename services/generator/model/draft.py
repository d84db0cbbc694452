"""The ``draft`` preset: a few-step distilled LoRA in both experts (Wan2.2-Lightning's format).

Wan2.2-Lightning distils each A14B expert to 4 steps without classifier-free guidance and ships one LoRA
file per expert (``high_noise_model.safetensors``, ``low_noise_model.safetensors``) with keys in the
original Wan naming (``diffusion_model.blocks.N.self_attn.q.lora_down.weight``, ``.lora_up.weight``,
``.alpha``). diffusers converts that naming itself; this module only finds the two files under the model
directory (``draft_lora/``) and loads them as the adapter ``draft``, the high-noise file into
``transformer`` and the low-noise file into ``transformer_2`` (``load_into_transformer_2``).

The adapter stays loaded and unfused: a ``draft`` shot enables it, a ``final`` shot disables it (PEFT then
computes exactly the base layers), so one replica serves both presets. Load it before context
parallelism is enabled (see :func:`likeness.generator.model.parallel.enable`).

:func:`lightning_lora` writes a LoRA in that format for a given expert with random (or zero) weights, for
the tiny model and tests: its output is not a distilled model, and says nothing about quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

#: The folder under a model directory that holds the draft LoRA.
DRAFT_LORA_DIR = "draft_lora"
#: Wan2.2-Lightning's file per expert.
LORA_FILES = {"transformer": "high_noise_model.safetensors", "transformer_2": "low_noise_model.safetensors"}
ADAPTER_NAME = "draft"
#: What a draft shot runs: Lightning's 4 steps, guidance 1 (no unconditional pass).
DRAFT_STEPS = 4
DRAFT_GUIDANCE = 1.0

#: The Wan names of the linears a Lightning LoRA adapts in each block, with diffusers' names.
_TARGETS = {
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}


def lora_files(directory: str | Path) -> dict[str, Path] | None:
    """The two LoRA files under ``directory`` (a model directory's ``draft_lora/``), or None when either
    is missing."""
    files = {expert: Path(directory) / name for expert, name in LORA_FILES.items()}
    return files if all(path.is_file() for path in files.values()) else None


def load_draft_lora(pipeline: Any, files: dict[str, Path | dict[str, torch.Tensor]]) -> None:
    """Load the draft LoRA into both experts of a two-expert WanPipeline, disabled until a draft shot."""
    from safetensors.torch import load_file

    for expert, source in files.items():
        state = load_file(str(source)) if isinstance(source, Path) else dict(source)
        pipeline.load_lora_weights(
            state, adapter_name=ADAPTER_NAME, load_into_transformer_2=expert == "transformer_2"
        )
    pipeline.disable_lora()


def lightning_lora(
    transformer: Any, rank: int = 4, seed: int = 0, zero: bool = False
) -> dict[str, torch.Tensor]:
    """A LoRA for ``transformer`` in Wan2.2-Lightning's key format: random weights (or zeros)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, block in enumerate(transformer.blocks):
        for wan_name, diffusers_name in _TARGETS.items():
            layer = block.get_submodule(diffusers_name)
            down = torch.randn(rank, layer.in_features, generator=generator) / layer.in_features**0.5
            up = torch.randn(layer.out_features, rank, generator=generator) / rank**0.5
            if zero:
                up.zero_()
            prefix = f"diffusion_model.blocks.{index}.{wan_name}"
            state[f"{prefix}.lora_down.weight"] = down
            state[f"{prefix}.lora_up.weight"] = up
            state[f"{prefix}.alpha"] = torch.tensor(float(rank))
    return state
