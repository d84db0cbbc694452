"""Training the identity adapter on the tiny random model (CPU), with a random stand-in face embedder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from likeness.generator.model.adapter import IdentityAdapter
from likeness.generator.model.tiny import tiny_pipeline
from likeness.generator.model.train import (
    AdapterTrainer,
    RandomProjectionEmbedder,
    TrainingBatch,
    frames_tensor,
    identity_preservation_loss,
    main,
)
from likeness.generator.model.video import WanVideoModel


def unit(*values: float) -> torch.Tensor:
    return F.normalize(torch.tensor(values, dtype=torch.float32), dim=0)


def lookup_embedder(table: dict[float, torch.Tensor]):  # type: ignore[no-untyped-def]
    """Embeds a constant frame by its value, so that the loss can be checked by hand."""

    def embed(frames: torch.Tensor) -> torch.Tensor:
        return torch.stack([table[round(float(frame.mean()), 3)] for frame in frames])

    return embed


def constant_clip(*values: float) -> torch.Tensor:
    """(1, 3, frames, 4, 4), each frame one value."""
    return torch.stack([torch.full((3, 4, 4), value) for value in values], dim=1)[None]


def test_identity_preservation_loss_is_cosine_distance_plus_half_the_adjacent_frame_term() -> None:
    reference = unit(1, 0, 0)
    embed = lookup_embedder({0.1: unit(1, 0, 0), 0.2: unit(0, 1, 0), 0.3: unit(-1, 0, 0)})
    # Every frame is the reference: no loss.
    assert float(
        identity_preservation_loss(constant_clip(0.1, 0.1), reference[None], embed)
    ) == pytest.approx(0)
    # Frames at distance 0 and 1 from the reference (mean 0.5), adjacent distance 1: 0.5 + 0.5 x 1.
    assert float(
        identity_preservation_loss(constant_clip(0.1, 0.2), reference[None], embed)
    ) == pytest.approx(1.0)
    # Distances 0, 2 (mean 1); adjacent 2: 1 + 0.5 x 2, or 1 + 0.25 x 2 with another weight.
    clip = constant_clip(0.1, 0.3)
    assert float(identity_preservation_loss(clip, reference[None], embed)) == pytest.approx(2.0)
    assert float(identity_preservation_loss(clip, reference[None], embed, 0.25)) == pytest.approx(1.5)


@pytest.fixture(scope="module")
def embed() -> RandomProjectionEmbedder:
    return RandomProjectionEmbedder(seed=0)


def fresh_model() -> WanVideoModel:
    adapter = IdentityAdapter.for_transformer(tiny_pipeline(seed=0).transformer, num_tokens=4, token_dim=16)
    return WanVideoModel.tiny(seed=0, vace=False, adapter=adapter)


def batch_for(trainer: AdapterTrainer, embed: RandomProjectionEmbedder) -> TrainingBatch:
    generator = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (5, 32, 32, 3), dtype=torch.uint8, generator=generator).numpy()
    clip = frames_tensor(frames)
    latents = trainer.encode_frames(clip)
    # The identity to preserve: the embedder's view of the clip as the VAE reconstructs it.
    with torch.no_grad():
        reconstruction = trainer.decode(latents)[0].permute(1, 0, 2, 3)
        z_id = F.normalize(embed(reconstruction).mean(0), dim=0)
    return TrainingBatch(latents=latents, prompt_embeds=trainer.encode_prompts(["a person"]), z_id=z_id[None])


def test_a_few_trainer_steps_lower_the_loss_and_train_only_the_adapter(
    embed: RandomProjectionEmbedder,
) -> None:
    model = fresh_model()
    frozen = {name: tensor.clone() for name, tensor in model.pipeline.transformer.state_dict().items()}
    trainer = AdapterTrainer(model, embed, learning_rate=3e-2)
    batch = batch_for(trainer, embed)
    noise = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(2))
    history = [trainer.step(batch, 0.5, noise) for _ in range(6)]
    assert history[-1].total < history[0].total - 0.1
    assert {losses.expert for losses in history} == {"transformer_2"}
    for name, tensor in model.pipeline.transformer.state_dict().items():
        assert torch.equal(tensor, frozen[name]), name
    assert any(block.to_v_id.weight.abs().sum() > 0 for block in model.adapter.blocks["transformer_2"])  # type: ignore[union-attr]


def test_the_identity_term_alone_lowers_the_identity_loss_in_the_high_noise_expert(
    embed: RandomProjectionEmbedder,
) -> None:
    model = fresh_model()
    trainer = AdapterTrainer(model, embed, learning_rate=3e-2, diffusion_weight=0.0)
    batch = batch_for(trainer, embed)
    noise = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(2))
    history = [trainer.step(batch, 0.95, noise) for _ in range(6)]
    assert {losses.expert for losses in history} == {"transformer"}
    identity = [losses.identity for losses in history]
    assert identity == sorted(identity, reverse=True)
    assert identity[-1] < identity[0] - 0.03


def test_the_training_entry_point_runs_on_the_tiny_model_and_saves_a_loadable_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--tiny", "--steps", "2", "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "random" in output and '"step": 2' in output
    adapter = IdentityAdapter.load(tmp_path)
    assert adapter.config.num_layers == 2
