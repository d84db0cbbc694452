"""Where a :class:`~likeness.generator.model.video.WanVideoModel` comes from: a local diffusers directory
(read with ``local_files_only``, nothing fetched from a hub; :func:`load_model`), the same layout written
back (:func:`save_model`), or the tiny random model for tests and CPUs (:func:`tiny_model`); and where its
parts live on the replica's devices (:class:`Placement`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from likeness.generator.model import EXPERTS, fastcache
from likeness.generator.model.adapter import ADAPTER_FILE, IdentityAdapter, IdentityBlockAdapter
from likeness.generator.model.draft import (
    DRAFT_LORA_DIR,
    LORA_FILES,
    lightning_lora,
    load_draft_lora,
    lora_files,
)
from likeness.generator.model.tiny import TINY_MODEL_ID, tiny_pipeline, tiny_vace_pipeline

if TYPE_CHECKING:
    from collections.abc import Sequence

    from likeness.generator.model.video import WanVideoModel

#: Written beside the weights: the model id and whether the weights are random.
MODEL_CARD = "likeness_model.json"


@dataclass(frozen=True)
class Placement:
    """Where the pipeline's parts live. A replica may span several GPUs: each expert its own."""

    #: The text encoder, the VAE, the latents and the high-noise expert.
    main: torch.device
    #: The low-noise expert.
    low_noise: torch.device
    #: The VACE experts (high, low), when loaded.
    vace: tuple[torch.device, torch.device]
    dtype: torch.dtype

    @classmethod
    def for_devices(
        cls, devices: Sequence[str | torch.device], dtype: torch.dtype | None = None
    ) -> Placement:
        """Experts spread round-robin over the given devices; the first also holds the rest."""
        resolved = [torch.device(device) for device in devices] or [torch.device("cpu")]
        if dtype is None:
            dtype = torch.bfloat16 if resolved[0].type == "cuda" else torch.float32

        def pick(index: int) -> torch.device:
            return resolved[index % len(resolved)]

        return cls(main=pick(0), low_noise=pick(1), vace=(pick(2), pick(3)), dtype=dtype)

    @classmethod
    def local(cls) -> Placement:
        """Every visible GPU (Ray sets CUDA_VISIBLE_DEVICES to the replica's), else the CPU."""
        count = torch.cuda.device_count()
        return cls.for_devices([f"cuda:{index}" for index in range(count)] or ["cpu"])


def _place(pipeline: Any, main: torch.device, experts: tuple[torch.device, torch.device]) -> None:
    """Move components (their dtypes are from_pretrained's); an expert away from the main device gets
    its inputs moved in and its outputs moved back."""
    from accelerate.hooks import AlignDevicesHook, add_hook_to_module

    for name in ("text_encoder", "vae"):
        getattr(pipeline, name).to(main)
    for name, device in zip(EXPERTS, experts, strict=True):
        expert = getattr(pipeline, name)
        expert.to(device)
        if device != main:
            add_hook_to_module(expert, AlignDevicesHook(execution_device=device, io_same_device=True))


def tiny_model(
    cls: type[WanVideoModel],
    seed: int = 0,
    *,
    vace: bool = True,
    adapter: IdentityAdapter | None = None,
    heads: int = 2,
    draft: bool = True,
    fast: bool = True,
) -> WanVideoModel:
    """The tiny random model on the CPU, with a random identity adapter unless one is given.

    The random adapter's ``to_v_id`` is random too (a fresh adapter's is zero and changes nothing),
    so identities visibly change the (noise) output, as a trained adapter's would.
    """
    pipeline = tiny_pipeline(seed, heads)
    draft_sources: dict[str, Any] = {}
    if draft:  # a random LoRA in the draft format: it exercises the path, it distils nothing
        draft_sources = {
            name: lightning_lora(getattr(pipeline, name), seed=seed + 3 + index)
            for index, name in enumerate(EXPERTS)
        }
        load_draft_lora(pipeline, draft_sources)
    vace_pipeline = tiny_vace_pipeline(seed, share_with=pipeline, heads=heads) if vace else None
    if adapter is None:
        torch.manual_seed(seed + 2)
        adapter = IdentityAdapter.for_transformer(pipeline.transformer, num_tokens=4, token_dim=16)
        randomize_values(adapter)
        adapter_id = "tiny-identity-adapter-random"
    else:
        adapter_id = f"identity-adapter@{adapter.version}"
    return cls(
        pipeline,
        vace_pipeline=vace_pipeline,
        adapter=adapter,
        model_id=TINY_MODEL_ID,
        adapter_id=adapter_id,
        random_weights=True,
        synthesis_steps=4,
        draft_lora=draft_sources or None,
        fast_ratios=fastcache.expert_ratios() if fast else None,
    )


def load_model(
    cls: type[WanVideoModel],
    model_dir: str | Path,
    *,
    placement: Placement | None = None,
    adapter_path: str | Path | None = None,
    model_id: str = "Wan2.2-T2V-A14B",
    fast: bool = True,
) -> WanVideoModel:
    """Weights from a local diffusers directory; nothing is fetched from a hub.

    ``model_dir/vace`` (a ``WanVACEPipeline`` directory) adds the reference-photo path; the identity
    adapter is ``adapter_path`` or ``model_dir/identity_adapter.safetensors`` when present. A
    ``likeness_model.json`` beside the weights names the model and says whether its weights are
    random (as :meth:`save_pretrained` writes it for the tiny model).
    """
    from diffusers import WanPipeline, WanVACEPipeline

    model_dir = Path(model_dir)
    if not (model_dir / "model_index.json").is_file():
        raise FileNotFoundError(f"no diffusers pipeline (model_index.json) under {model_dir}")
    card = json.loads((model_dir / MODEL_CARD).read_text()) if (model_dir / MODEL_CARD).is_file() else {}
    placement = placement or Placement.local()
    pipeline = WanPipeline.from_pretrained(model_dir, torch_dtype=placement.dtype, local_files_only=True)
    # The draft LoRA goes in before anything else wraps the experts (device hooks, parallelism,
    # compilation): diffusers takes an accelerate hook on an expert for CPU offloading.
    draft_files = lora_files(model_dir / DRAFT_LORA_DIR)
    if draft_files is not None:
        load_draft_lora(pipeline, dict(draft_files))
    _place(pipeline, placement.main, (placement.main, placement.low_noise))
    vace_pipeline = None
    if (model_dir / "vace" / "model_index.json").is_file():
        vace_pipeline = WanVACEPipeline.from_pretrained(
            model_dir / "vace",
            torch_dtype=placement.dtype,
            local_files_only=True,
            text_encoder=pipeline.text_encoder,
            tokenizer=pipeline.tokenizer,
            vae=pipeline.vae,
        )
        _place(vace_pipeline, placement.main, placement.vace)
    adapter = None
    adapter_file = Path(adapter_path) if adapter_path else model_dir / ADAPTER_FILE
    if adapter_path or adapter_file.is_file():
        adapter = IdentityAdapter.load(adapter_file)
        adapter.projector.to(placement.main)
    return cls(
        pipeline,
        vace_pipeline=vace_pipeline,
        adapter=adapter,
        model_id=card.get("model_id", model_id),
        adapter_id=card.get("adapter_id", f"{adapter_file.name}@{adapter.version}") if adapter else "",
        random_weights=bool(card.get("random_weights", False)),
        draft_lora=dict(draft_files) if draft_files is not None else None,
        fast_ratios=fastcache.load_ratios(model_dir) if fast else None,
    )


def save_model(model: WanVideoModel, model_dir: str | Path) -> Path:
    """The layout :meth:`from_pretrained` reads: pipeline, ``vace/``, adapter and model card."""
    model_dir = Path(model_dir)
    if model.draft_sources is not None:
        # The base weights are saved without the LoRA's layers, and the LoRA in its own files.
        model.pipeline.unload_lora_weights()
        try:
            model.pipeline.save_pretrained(model_dir, safe_serialization=True)
        finally:
            load_draft_lora(model.pipeline, model.draft_sources)
        (model_dir / DRAFT_LORA_DIR).mkdir(parents=True, exist_ok=True)
        for name, source in model.draft_sources.items():
            target = model_dir / DRAFT_LORA_DIR / LORA_FILES[name]
            if isinstance(source, Path):
                shutil.copyfile(source, target)
            else:
                save_file({key: value.contiguous() for key, value in source.items()}, str(target))
    else:
        model.pipeline.save_pretrained(model_dir, safe_serialization=True)
    if model.vace_pipeline is not None:
        model.vace_pipeline.save_pretrained(model_dir / "vace", safe_serialization=True)
    if model.fast_ratios is not None:
        (model_dir / fastcache.FAST_CACHE_FILE).write_text(json.dumps(model.fast_ratios))
    if model.adapter is not None:
        model.adapter.save(model_dir / ADAPTER_FILE)
    card = {
        "model_id": model.info.model_id,
        "adapter_id": model.info.adapter_id,
        "random_weights": model.info.random_weights,
    }
    (model_dir / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")
    return model_dir


def randomize_values(adapter: IdentityAdapter, scale: float = 0.5) -> None:
    """Random ``to_v_id`` weights, standing in for a trained adapter on random-weight models."""
    with torch.no_grad():
        for module in adapter.modules():
            if isinstance(module, IdentityBlockAdapter):
                layer = module.to_v_id
                torch.nn.init.normal_(layer.weight, std=scale / layer.in_features**0.5)
