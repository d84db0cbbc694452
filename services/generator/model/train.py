"""Training the identity adapter with the identity-preservation loss.

Each step noises a training clip's latents to a random flow-matching level, lets the expert for that
level (high noise at or above the boundary, low noise below it) predict the velocity with the adapter
fed the clip's identity, decodes the predicted clean latents with the VAE, and scores the frames:

    identity loss = mean over frames of (1 - cos(embed(frame), z_id))
                  + temporal_weight (0.5) x mean over adjacent frames of (1 - cos(embed(f_t), embed(f_t+1)))

plus ``diffusion_weight`` x the usual flow-matching (velocity MSE) loss, which keeps the adapter from
buying identity with broken frames. Only the adapter's weights train; both experts, the VAE and the
text encoder stay frozen.

``embed(frames) -> (N, 512)`` is any differentiable face embedder taking frames (N, 3, H, W) in
[-1, 1]. :class:`RandomProjectionEmbedder` is a small random network with that signature, for tests and
the tiny demo; it knows nothing about faces. The trainer people run, ``likeness train`` (data
preparation, ranks, checkpoints, evaluation), is :mod:`likeness.generator.training`: its loss aligns the
faces from their landmarks and embeds them with the identity pack's own ArcFace ported to torch.

``python -m likeness.generator.model.train --tiny`` runs a few steps on the tiny random model on the
CPU and prints the losses.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from likeness.generator.model.adapter import IdentityAdapter
from likeness.generator.model.tiny import TEXT_LENGTH

#: frames (N, 3, H, W) in [-1, 1] -> embeddings (N, 512); must be differentiable.
Embedder = Callable[[torch.Tensor], torch.Tensor]


def identity_preservation_loss(
    frames: torch.Tensor, reference: torch.Tensor, embed: Embedder, temporal_weight: float = 0.5
) -> torch.Tensor:
    """Cosine distance of each frame to its sample's reference + temporal_weight x adjacent-frame distance.

    ``frames`` is (batch, 3, frames, H, W) in [-1, 1]; ``reference`` is (batch, 512).
    """
    batch, channels, count, height, width = frames.shape
    flat = frames.permute(0, 2, 1, 3, 4).reshape(batch * count, channels, height, width)
    embeddings = F.normalize(embed(flat).float(), dim=-1).view(batch, count, -1)
    reference = F.normalize(reference.float(), dim=-1).to(embeddings.device)
    identity = (1 - (embeddings * reference[:, None]).sum(-1)).mean()
    if count < 2:
        return identity
    temporal = (1 - (embeddings[:, 1:] * embeddings[:, :-1]).sum(-1)).mean()
    return identity + temporal_weight * temporal


class RandomProjectionEmbedder(nn.Module):
    """A fixed random projection of downsampled, mean-centred pixels to 512-d, with the face embedder's
    signature. Random weights: it tells images apart, not faces."""

    def __init__(self, seed: int = 0, grid: int = 8) -> None:
        super().__init__()
        self.grid = grid
        generator = torch.Generator().manual_seed(seed)
        weight = torch.randn(512, 3 * grid * grid, generator=generator) / (3 * grid * grid) ** 0.5
        self.weight: torch.Tensor
        self.register_buffer("weight", weight)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(frames.float(), self.grid).flatten(1)
        centred = pooled - pooled.mean(dim=1, keepdim=True)
        return centred @ self.weight.T


def latent_stats(vae: Any, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The Wan VAE's per-channel latent mean and std, (1, C, 1, 1, 1): latents the pipeline denoises are
    ``(raw - mean) / std``."""
    config = vae.config
    shape = (1, config.z_dim, 1, 1, 1)
    mean = torch.tensor(config.latents_mean, dtype=torch.float32).view(shape).to(device)
    std = torch.tensor(config.latents_std, dtype=torch.float32).view(shape).to(device)
    return mean, std


@dataclass
class TrainingBatch:
    """Clips with their identities: what one training step sees."""

    #: Normalised VAE latents of the clips, (batch, 16, latent frames, h, w).
    latents: torch.Tensor
    #: Text embeddings of the clips' captions, (batch, 512, text_dim).
    prompt_embeds: torch.Tensor
    #: The identity each clip shows, (batch, 512), unit norm.
    z_id: torch.Tensor


@dataclass(frozen=True)
class StepLosses:
    total: float
    identity: float
    diffusion: float
    sigma: float
    expert: str


class AdapterTrainer:
    """Trains an installed identity adapter on a WanVideoModel's frozen two-expert pipeline."""

    def __init__(
        self,
        model: Any,
        embed: Embedder,
        *,
        learning_rate: float = 1e-4,
        temporal_weight: float = 0.5,
        diffusion_weight: float = 1.0,
        identity_strength: float = 1.0,
        boundary_ratio: float | None = None,
    ) -> None:
        if model.adapter is None:
            raise ValueError("the model has no identity adapter to train")
        self.model = model
        self.pipeline = model.pipeline
        self.adapter: IdentityAdapter = model.adapter
        self.embed = embed
        self.temporal_weight = temporal_weight
        self.diffusion_weight = diffusion_weight
        self.identity_strength = identity_strength
        self.boundary_ratio = (
            boundary_ratio if boundary_ratio is not None else self.pipeline.config.boundary_ratio or 0.0
        )
        for name in ("transformer", "transformer_2", "vae", "text_encoder"):
            getattr(self.pipeline, name).requires_grad_(False)
        self.adapter.requires_grad_(True)
        self.optimizer = torch.optim.AdamW(self.adapter.parameters(), lr=learning_rate, weight_decay=0.0)

    def encode_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        with torch.no_grad():
            embeds, _ = self.pipeline.encode_prompt(
                prompt=list(prompts),
                do_classifier_free_guidance=False,
                max_sequence_length=TEXT_LENGTH,
                device=self.pipeline._execution_device,
            )
        return embeds.to(self.pipeline.transformer.dtype)  # type: ignore[no-any-return]

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised latents (as the pipeline decodes them) of clips (batch, 3, frames, H, W) in [-1, 1]."""
        vae = self.pipeline.vae
        mean, std = self._latent_stats(frames.device)
        with torch.no_grad():
            raw = vae.encode(frames.to(vae.dtype)).latent_dist.mode()
        return ((raw - mean) / std).float()  # type: ignore[no-any-return]

    def _latent_stats(self, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return latent_stats(self.pipeline.vae, device)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Differentiable decode of normalised latents to frames (batch, 3, frames, H, W) in [-1, 1]."""
        vae = self.pipeline.vae
        mean, std = self._latent_stats(latents.device)
        frames = vae.decode((latents * std + mean).to(vae.dtype), return_dict=False)[0]
        return frames.clamp(-1, 1)  # type: ignore[no-any-return]

    def losses(
        self, batch: TrainingBatch, sigma: float, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(identity-preservation loss, flow-matching loss) at noise level ``sigma`` in (0, 1)."""
        timestep = sigma * self.pipeline.scheduler.config.num_train_timesteps
        high_noise = timestep >= self.boundary_ratio * self.pipeline.scheduler.config.num_train_timesteps
        expert = self.pipeline.transformer if high_noise else self.pipeline.transformer_2
        clean = batch.latents
        noisy = (1 - sigma) * clean + sigma * noise
        size = clean.shape[0]
        z_ids = [[(batch.z_id[index], self.identity_strength)] for index in range(size)]
        from likeness.generator.model.adapter import identity_bank

        dtype = expert.dtype
        tokens, strengths = identity_bank(self.adapter, z_ids, clean.device, dtype)
        with self.model.identity_context.use(tokens, strengths):
            velocity = expert(
                hidden_states=noisy.to(dtype),
                timestep=torch.full((size,), timestep, device=clean.device),
                encoder_hidden_states=batch.prompt_embeds,
                return_dict=False,
            )[0].float()
        diffusion = F.mse_loss(velocity, noise - clean)
        predicted_clean = noisy - sigma * velocity
        frames = self.decode(predicted_clean)
        identity = identity_preservation_loss(frames, batch.z_id, self.embed, self.temporal_weight)
        return identity, diffusion

    def step(self, batch: TrainingBatch, sigma: float, noise: torch.Tensor) -> StepLosses:
        identity, diffusion = self.losses(batch, sigma, noise)
        total = identity + self.diffusion_weight * diffusion
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        threshold = self.boundary_ratio
        return StepLosses(
            total=total.item(),
            identity=identity.item(),
            diffusion=diffusion.item(),
            sigma=sigma,
            expert="transformer" if sigma >= threshold else "transformer_2",
        )

    def train(self, batches: Sequence[TrainingBatch], steps: int, seed: int = 0) -> list[StepLosses]:
        """``steps`` steps cycling over ``batches``, with seeded random noise levels and noise."""
        generator = torch.Generator().manual_seed(seed)
        history = []
        for index in range(steps):
            batch = batches[index % len(batches)]
            sigma = float(torch.rand((), generator=generator).clamp(0.02, 0.98))
            noise = torch.randn(batch.latents.shape, generator=generator).to(batch.latents.device)
            history.append(self.step(batch, sigma, noise))
        return history


def load_clips(data_dir: Path) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Training clips: ``*.npz`` files with ``frames`` (F, H, W, 3) uint8, ``z_id`` (512,) and ``prompt``."""
    clips = []
    for path in sorted(data_dir.glob("*.npz")):
        with np.load(path) as data:
            clips.append((data["frames"], data["z_id"].astype(np.float32), str(data["prompt"])))
    if not clips:
        raise FileNotFoundError(f"no *.npz clips under {data_dir}")
    return clips


def frames_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (F, H, W, 3) → float (1, 3, F, H, W) in [-1, 1]."""
    return torch.from_numpy(frames).float().div(127.5).sub(1).permute(3, 0, 1, 2)[None]


def _tiny_clips(embed: Embedder, count: int = 2, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Random clips whose identity is the random embedder's mean embedding of their frames."""
    rng = np.random.default_rng(seed)
    clips = []
    for index in range(count):
        frames = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
        clip = frames_tensor(frames)[0].permute(1, 0, 2, 3)
        with torch.no_grad():
            z_id = F.normalize(embed(clip).mean(0), dim=0).numpy()
        clips.append((frames, z_id.astype(np.float32), f"a person, clip {index}"))
    return clips


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the identity adapter (identity-preservation loss).")
    parser.add_argument("--tiny", action="store_true", help="the tiny random model and random clips (a demo)")
    parser.add_argument("--model-dir", type=Path, help="a diffusers Wan 2.2 pipeline directory")
    parser.add_argument("--data", type=Path, help="a directory of *.npz training clips")
    parser.add_argument("--embedder", help="module:callable returning the differentiable face embedder")
    parser.add_argument("--adapter", type=Path, help="start from this adapter (default: a fresh one)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, help="where to save the trained adapter")
    args = parser.parse_args(argv)

    from likeness.generator.model.video import WanVideoModel

    embed: Embedder
    if args.tiny:
        embed = RandomProjectionEmbedder()
        fresh = None if args.adapter else "fresh"
        model = WanVideoModel.tiny(
            vace=False, adapter=IdentityAdapter.load(args.adapter) if args.adapter else None
        )
        if fresh:
            model = _with_fresh_adapter(model)
        clips = _tiny_clips(embed)
        print("tiny random model and random clips: the numbers show the loop runs, nothing more")
    else:
        if not (args.model_dir and args.data and args.embedder):
            parser.error("--model-dir, --data and --embedder are required without --tiny")
        module, _, attribute = args.embedder.partition(":")
        embed = getattr(importlib.import_module(module), attribute)()
        model = WanVideoModel.from_pretrained(args.model_dir, adapter_path=args.adapter)
        if model.adapter is None:
            model = _with_fresh_adapter(model)
        clips = load_clips(args.data)

    trainer = AdapterTrainer(model, embed, learning_rate=args.learning_rate)
    device = model.pipeline._execution_device
    batches = [
        TrainingBatch(
            latents=trainer.encode_frames(frames_tensor(frames).to(device)),
            prompt_embeds=trainer.encode_prompts([prompt]),
            z_id=torch.from_numpy(z_id)[None].to(device),
        )
        for frames, z_id, prompt in clips
    ]
    for index, losses in enumerate(trainer.train(batches, args.steps), start=1):
        print(json.dumps({"step": index, **losses.__dict__}))
    if args.out:
        print(f"saved {trainer.adapter.save(args.out)}")
    return 0


def _with_fresh_adapter(model: Any) -> Any:
    """The same pipelines with a freshly initialised adapter (to_v_id zero)."""
    from likeness.generator.model.video import WanVideoModel

    for installed in model.installed:
        installed.remove()
    adapter = IdentityAdapter.for_transformer(model.pipeline.transformer)
    return WanVideoModel(
        model.pipeline,
        vace_pipeline=model.vace_pipeline,
        adapter=adapter,
        model_id=model.info.model_id,
        adapter_id="identity-adapter",
        random_weights=model.info.random_weights,
    )


if __name__ == "__main__":
    raise SystemExit(main())
