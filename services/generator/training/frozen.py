"""The frozen side of an identity-adapter training run: both Wan 2.2 experts, the VAE and the face
model, loaded from the model directory, frozen, and with ``shard_frozen`` split over the ranks by FSDP2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from likeness.generator.model import EXPERTS
from likeness.generator.model.train import latent_stats

if TYPE_CHECKING:
    from likeness.generator.training.trainer import TrainConfig


@dataclass
class FrozenModel:
    """What the trainer runs but does not train: the experts, the VAE and the noise schedule's boundary."""

    experts: dict[str, nn.Module]
    vae: Any
    #: Fraction of the training timesteps at which the low-noise expert takes over (Wan 2.2: 0.875).
    boundary: float
    num_train_timesteps: int

    def latent_stats(self, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return latent_stats(self.vae, device)

    def freeze(self) -> None:
        for module in (*self.experts.values(), self.vae):
            module.requires_grad_(False)
            module.eval()


def shard_experts(frozen: FrozenModel, device: torch.device) -> None:
    """FSDP2 over the frozen experts, one unit per transformer block and one for the rest, on a mesh of all
    ranks. Nothing of theirs trains, so only the all-gathers run: block by block in the forward, resharded
    after it, and gathered again for the backward through them (or its recomputation under gradient
    checkpointing). Call it before the adapter is installed: the adapter's processors join the blocks
    afterwards and stay outside the shards, replicated and synchronised by DDP."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    for expert in frozen.experts.values():
        for block in expert.blocks:  # type: ignore[union-attr]
            fully_shard(block, mesh=mesh, reshard_after_forward=True)
        fully_shard(expert, mesh=mesh, reshard_after_forward=True)


def frozen_layout(frozen: FrozenModel, world: int) -> dict[str, Any]:
    """How the frozen experts' weights lie on this rank: all of them, or this rank's shards of them."""
    from torch.distributed.tensor import DTensor

    total = local = 0
    for expert in frozen.experts.values():
        for parameter in expert.parameters():
            total += parameter.numel()
            held = parameter.to_local() if isinstance(parameter, DTensor) else parameter
            local += held.numel()
    return {
        "ranks": world,
        "frozen_sharded": local < total,
        "frozen_parameters": total,
        "frozen_parameters_on_rank_0": local,
    }


def load_frozen(config: TrainConfig, device: torch.device, dtype: torch.dtype) -> FrozenModel:
    """The experts this run needs and the VAE, from the model directory (or the tiny random model)."""
    if config.tiny:
        from likeness.generator.model.tiny import tiny_pipeline

        pipeline = tiny_pipeline(config.tiny_seed, 2)
        experts = {name: getattr(pipeline, name).to(device) for name in EXPERTS}
        vae = pipeline.vae.to(device)
        boundary = float(pipeline.config.boundary_ratio or 0.0)
        timesteps = int(pipeline.scheduler.config.num_train_timesteps)
    else:
        from diffusers import AutoencoderKLWan, WanTransformer3DModel

        if config.model_dir is None:
            raise ValueError("model_dir is required unless tiny is set")
        index = json.loads((config.model_dir / "model_index.json").read_text())
        scheduler = json.loads((config.model_dir / "scheduler" / "scheduler_config.json").read_text())
        wanted = config.experts() if config.expert != "both" else EXPERTS
        experts = {
            name: WanTransformer3DModel.from_pretrained(
                config.model_dir, subfolder=name, torch_dtype=dtype, local_files_only=True
            ).to(device)
            for name in wanted
        }
        vae = AutoencoderKLWan.from_pretrained(
            config.model_dir, subfolder="vae", torch_dtype=torch.float32, local_files_only=True
        ).to(device)
        boundary = float(index.get("boundary_ratio") or 0.0)
        timesteps = int(scheduler.get("num_train_timesteps", 1000))
    frozen = FrozenModel(experts=experts, vae=vae, boundary=boundary, num_train_timesteps=timesteps)
    frozen.freeze()
    return frozen


def make_face_model(name: str, device: torch.device) -> nn.Module:
    """The face embedder of the loss: (N, 3, 112, 112) RGB in [0, 1] -> unit (N, 512)."""
    if name == "arcface":
        from likeness.generator.training.face import TorchArcFace

        return TorchArcFace().to(device).eval()
    from likeness.generator.model.train import RandomProjectionEmbedder

    projection = RandomProjectionEmbedder()

    class Projected(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.projection = projection

        def forward(self, faces: torch.Tensor) -> torch.Tensor:
            return F.normalize(self.projection(faces * 2 - 1), dim=-1)

    return Projected().to(device).eval()
