"""What a training step computes: the flow-matching loss of the expert with the adapter, and the identity
loss of the faces decoded from its predicted clean latents (see trainer.py for the whole step)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from likeness.generator.model import EXPERTS
from likeness.generator.model.adapter import IdentityAdapter, identity_bank, install
from likeness.generator.training.frozen import FrozenModel

if TYPE_CHECKING:
    from likeness.generator.training.trainer import TrainConfig


@dataclass
class Batch:
    """One rank's samples for one step (from prepare.py's shards)."""

    latents: torch.Tensor  # (B, C, F', h, w), normalised
    prompt_embeds: torch.Tensor  # (B, L, D)
    z_id: torch.Tensor  # (B, 512) unit
    #: Per sample: pixel-frame indices with a face, and their landmarks (K, 5, 2) in pixels.
    face_frames: list[torch.Tensor]
    landmarks: list[torch.Tensor]


@dataclass(frozen=True)
class StepLosses:
    step: int
    total: float
    identity: float
    temporal: float
    diffusion: float
    sigma: float
    expert: str
    faces: int


def identity_losses(
    embeddings: Sequence[torch.Tensor], z_id: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(identity, temporal) in cosine form: each face against its clip's z_id, and adjacent faces of a clip
    against each other; samples without faces add nothing."""
    identity, temporal, count, pairs = z_id.new_zeros(()), z_id.new_zeros(()), 0, 0
    for sample, faces in enumerate(embeddings):
        if faces.shape[0] == 0:
            continue
        identity = identity + (1 - faces @ z_id[sample]).sum()
        count += faces.shape[0]
        if faces.shape[0] > 1:
            temporal = temporal + (1 - (faces[1:] * faces[:-1]).sum(-1)).sum()
            pairs += faces.shape[0] - 1
    return identity / max(count, 1), temporal / max(pairs, 1)


class AdapterLoss(nn.Module):
    """The adapter and the loss around it; what DistributedDataParallel wraps (the frozen model is held
    outside the module tree, so that DDP neither broadcasts nor watches it)."""

    def __init__(
        self, adapter: IdentityAdapter, frozen: FrozenModel, face_model: nn.Module, config: TrainConfig
    ) -> None:
        super().__init__()
        self.adapter = adapter
        self.config = config
        self._frozen = [frozen]
        self._face = [face_model]
        self._installed = install(adapter, frozen.experts, cast=False)

    @property
    def frozen(self) -> FrozenModel:
        return self._frozen[0]

    def expert_for(self, sigma: float) -> str:
        high = sigma >= self.frozen.boundary  # the timestep sigma x T against boundary x T
        return "transformer" if high or "transformer_2" not in self.frozen.experts else "transformer_2"

    @contextlib.contextmanager
    def conditioned(self, batch: Batch) -> Iterator[None]:
        """The batch's identities in the experts, around the forward AND the backward: gradient
        checkpointing recomputes the blocks during the backward, and they must see what they saw."""
        size = batch.z_id.shape[0]
        dtype = next(next(iter(self.frozen.experts.values())).parameters()).dtype
        identities = [[(batch.z_id[i], self.config.identity_strength)] for i in range(size)]
        tokens, strengths = identity_bank(self.adapter, identities, batch.z_id.device, torch.float32)
        with self._installed.context.use(tokens.to(dtype), strengths.to(dtype)):
            yield

    def forward(self, batch: Batch, sigma: float, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """The step's losses; call it inside :meth:`conditioned`, and run the backward there too."""
        frozen, config = self.frozen, self.config
        name = self.expert_for(sigma)
        expert = frozen.experts[name]
        clean = batch.latents
        noisy = (1 - sigma) * clean + sigma * noise
        size = clean.shape[0]
        dtype = next(expert.parameters()).dtype
        timestep = torch.full((size,), sigma * frozen.num_train_timesteps, device=clean.device)
        autocast = (
            torch.autocast("cuda", dtype=dtype)
            if clean.device.type == "cuda" and dtype != torch.float32
            else contextlib.nullcontext()
        )
        with autocast:
            velocity = expert(
                hidden_states=noisy.to(dtype),
                timestep=timestep,
                encoder_hidden_states=batch.prompt_embeds.to(dtype),
                return_dict=False,
            )[0].float()
        diffusion = F.mse_loss(velocity, noise - clean)
        predicted = noisy - sigma * velocity
        frames = self.decode(predicted[:, :, : config.decode_latent_frames])
        embeddings = self.faces(frames, batch)
        identity, temporal = identity_losses(embeddings, F.normalize(batch.z_id.float(), dim=-1))
        faces = sum(int(each.shape[0]) for each in embeddings)
        total = (
            config.identity_weight * (identity + config.temporal_weight * temporal)
            + config.diffusion_weight * diffusion
        )
        return {
            "total": total,
            "identity": identity.detach(),
            "temporal": temporal.detach(),
            "diffusion": diffusion.detach(),
            "faces": torch.tensor(faces),
            "expert": torch.tensor(EXPERTS.index(name)),
        }

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Frames (B, 3, frames, H, W) in [0, 1] from normalised latents, differentiably."""
        vae = self.frozen.vae
        mean, std = self.frozen.latent_stats(latents.device)
        frames = vae.decode((latents * std + mean).to(vae.dtype), return_dict=False)[0]
        return (frames.float().clamp(-1, 1) + 1) / 2  # type: ignore[no-any-return]

    def faces(self, frames: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
        """Per sample, the face embeddings of its face frames that the decoded prefix holds."""
        from likeness.generator.training.face import align_faces

        decoded = frames.shape[2]
        out = []
        for sample in range(frames.shape[0]):
            keep = batch.face_frames[sample] < decoded
            indexes = batch.face_frames[sample][keep]
            if indexes.numel() == 0:
                out.append(frames.new_zeros((0, 512)))
                continue
            images = frames[sample, :, indexes].permute(1, 0, 2, 3)
            crops = align_faces(images, batch.landmarks[sample][keep].to(frames.device))
            out.append(F.normalize(self._face[0](crops).float(), dim=-1))
        return out
