"""Training the identity adapter on the CPU: shards prepared from real photos made into clips, the tiny
random Wan model, the real face model in the loss, two gloo ranks. The loss falls, a killed run resumes
on the uninterrupted run's loss curve, the adapter loads in the Serve model and changes its output, and
the evaluation scores it as clip QA does (random weights: these show the machinery, not a useful
adapter)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from likeness.generator.model.adapter import IdentityAdapter
from likeness.generator.serve_app import build_model
from likeness.generator.shots import CharacterConditioning, ShotRequest
from likeness.generator.training.frozen import load_frozen, make_face_model
from likeness.generator.training.loss import AdapterLoss
from likeness.generator.training.shards import ShardDataset
from likeness.generator.training.trainer import (
    FINAL_ADAPTER,
    LAYOUT,
    TrainConfig,
    _collate,
    checkpoints,
    launch,
    read_metrics,
    step_noise,
)
from tests.integration.test_adapter_prepare import engine, manifest, pipeline, prepared  # noqa: F401
from tests.unit.test_video_model import shot

STEPS = 6


def settings(data: Path, out: Path, **values: Any) -> TrainConfig:
    # The learning rate makes 6 steps move the loss well past run-to-run spread: prepared shards differ
    # by ~1e-4 between runs and Adam's first steps amplify that; at 5e-3 the fall (~0.1) was within it.
    defaults: dict[str, Any] = {
        "data": data, "out": out, "tiny": True, "steps": STEPS, "checkpoint_every": 2,
        "learning_rate": 2e-2, "decode_latent_frames": 2, "seed": 3,
    }  # fmt: skip
    return TrainConfig.model_validate({**defaults, **values})


def fixed_loss(config: TrainConfig, adapter: IdentityAdapter) -> float:
    """The loss of every prepared sample at two fixed noise levels and fixed noise, in one process."""
    frozen = load_frozen(config, torch.device("cpu"), torch.float32)
    module = AdapterLoss(adapter, frozen, make_face_model(config.face_model, torch.device("cpu")), config)
    dataset = ShardDataset(config.data)
    batch = _collate([dataset[index] for index in range(len(dataset))], torch.device("cpu"))
    total = 0.0
    with torch.no_grad(), module.conditioned(batch):
        for step, sigma in enumerate((0.3, 0.9)):
            noise = step_noise(config, 1000 + step, 0, batch.latents.shape)
            total += float(module(batch, sigma, noise)["total"])
    module._installed.remove()
    return total


@pytest.fixture(scope="module")
def trained(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainConfig:  # noqa: F811
    config = settings(prepared, tmp_path_factory.mktemp("run"))
    launch(config, 2, progress=False)
    return config


def test_two_ranks_train_the_adapter_and_the_loss_falls(trained: TrainConfig) -> None:
    metrics = read_metrics(trained.out)
    assert [row["step"] for row in metrics] == list(range(1, STEPS + 1))
    assert all(row["faces"] > 0 for row in metrics)  # the face model saw faces in every step
    boundary = load_frozen(trained, torch.device("cpu"), torch.float32).boundary
    for row in metrics:  # each step ran the expert of its noise level
        assert row["expert"] == ("transformer" if row["sigma"] >= boundary else "transformer_2"), row
    assert [each.step for each in checkpoints(trained.out)] == [2, 4, 6]
    torch.manual_seed(trained.seed)
    frozen = load_frozen(trained, torch.device("cpu"), torch.float32)
    initial = IdentityAdapter.for_transformer(frozen.experts["transformer"]).float()
    final = IdentityAdapter.load(trained.out / FINAL_ADAPTER)
    before, after = fixed_loss(trained, initial), fixed_loss(trained, final)
    assert after < before, (before, after)


def _wait(predicate: Any, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not come true in time")
        time.sleep(0.05)  # a poll interval: `predicate` is what is waited on


def test_a_killed_run_resumes_on_the_uninterrupted_loss_curve(
    trained: TrainConfig,
    prepared: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = settings(prepared, tmp_path / "run")
    config_path = tmp_path / "train.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    command = [sys.executable, "-m", "likeness.cli.main", "train", "run", "--config", str(config_path)]
    process = subprocess.Popen(
        [*command, "--processes", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        # Killed after step 3: the checkpoint of step 2 stands, step 3's work is lost.
        _wait(lambda: len(read_metrics(config.out)) >= 3 or process.poll() is not None)
        assert process.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert [each.step for each in checkpoints(config.out)][-1:] == [2]
    assert not (config.out / FINAL_ADAPTER).exists()

    launch(config, 2, progress=False)

    resumed = read_metrics(config.out)
    uninterrupted = read_metrics(trained.out)
    assert [row["step"] for row in resumed] == list(range(1, STEPS + 1))
    for mine, theirs in zip(resumed, uninterrupted, strict=True):
        for key in ("total", "identity", "temporal", "diffusion", "sigma", "expert"):
            assert mine[key] == theirs[key], (mine["step"], key, mine[key], theirs[key])
    assert (
        IdentityAdapter.load(config.out / FINAL_ADAPTER).version
        == IdentityAdapter.load(trained.out / FINAL_ADAPTER).version
    )


def test_the_trained_adapter_loads_in_the_serve_model_and_changes_its_output(trained: TrainConfig) -> None:
    path = trained.out / FINAL_ADAPTER
    model = build_model({"variant": "tiny", "adapter_path": str(path)})
    assert model.info.adapter_id == f"identity-adapter@{IdentityAdapter.load(path).version}"
    z_id = ShardDataset(trained.data)[0].z_id.numpy()

    def with_strength(strength: float) -> ShotRequest:
        return dataclasses.replace(shot(), characters=(CharacterConditioning("c", z_id, strength),))

    with_identity = model.generate(with_strength(0.8)).frames
    plain = model.generate(with_strength(0.0)).frames
    assert np.abs(with_identity.astype(np.int16) - plain.astype(np.int16)).max() > 0
    fresh = build_model({"variant": "tiny", "adapter_path": str(_fresh_adapter(trained))})
    # An untrained adapter (to_v_id zero) changes nothing: the change above is the training's.
    assert np.array_equal(fresh.generate(with_strength(0.8)).frames, plain)


def _fresh_adapter(config: TrainConfig) -> Path:
    frozen = load_frozen(config, torch.device("cpu"), torch.float32)
    return IdentityAdapter.for_transformer(frozen.experts["transformer"]).save(
        config.out / "fresh.safetensors"
    )


def tiny_clip(path: Path) -> Path:
    """A CLIP directory as transformers saves one (model, tokenizer, image processor), random weights."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from likeness.generator.model.tiny import byte_tokenizer

    tokenizer = byte_tokenizer()
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={
            **layers, "vocab_size": len(tokenizer), "max_position_embeddings": 77,
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={**layers, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    images.save_pretrained(path)
    return path


def test_evaluation_scores_each_strength_and_saves_the_report(
    trained: TrainConfig,
    engine: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from likeness.generator.training.evaluate import PromptScorer, evaluate

    path = trained.out / FINAL_ADAPTER
    clip = tiny_clip(tmp_path / "clip")
    report = evaluate(
        path, trained.data, engine, tiny=True, seeds=[0], strengths=[0.0, 0.8], steps=2, clip_model=clip
    )
    people = {sample.person_id for sample in ShardDataset(trained.data)}
    assert len(report["rows"]) == len(people) * 2
    saved = json.loads(path.with_name(path.stem + ".eval.json").read_text())
    assert saved["summary"]["adapter_version"] == IdentityAdapter.load(path).version
    strengths = saved["summary"]["strengths"]
    assert strengths["0.0"]["pixel_change_vs_strength_0"] == 0.0
    assert strengths["0.8"]["pixel_change_vs_strength_0"] > 0.0
    assert saved["random_weights"] is True
    # Prompt following: CLIPSIM per clip, and its change against the plain model per strength.
    assert all(-1 <= row["clip_score"] <= 1 for row in saved["rows"])
    assert strengths["0.0"]["clip_score_change_vs_strength_0"] == 0.0
    assert strengths["0.8"]["clip_score_change_vs_strength_0"] == pytest.approx(
        strengths["0.8"]["clip_score_mean"] - strengths["0.0"]["clip_score_mean"]
    )
    assert any("CLIPSIM" in note for note in saved["notes"])
    # The score reads both the frames and the caption (random weights: nothing about its meaning).
    scorer = PromptScorer(clip)
    frames = np.random.default_rng(0).integers(0, 256, (9, 48, 48, 3), dtype=np.uint8)
    caption = ShardDataset(trained.data)[0].caption
    assert scorer(frames, caption) != scorer(frames, caption + " at night, in the rain")
    assert scorer(frames, caption) != scorer(255 - frames, caption)


def test_evaluation_without_a_clip_model_says_prompt_following_was_not_measured(
    trained: TrainConfig,
    engine: Any,  # noqa: F811
) -> None:
    from likeness.generator.training.evaluate import evaluate

    report = evaluate(
        trained.out / FINAL_ADAPTER, trained.data, engine, tiny=True, seeds=[0], strengths=[0.0], steps=1
    )
    assert all(row["clip_score"] is None for row in report["rows"])
    assert "clip_score_mean" not in report["summary"]["strengths"]["0.0"]
    assert any("not measured" in note for note in report["notes"])


@pytest.mark.s3
def test_shards_published_to_the_object_store_train_from_there(
    prepared: Path,  # noqa: F811
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from likeness.generator.training.shards import publish_to_store

    client = s3_endpoint.client()
    if not client.bucket_exists("likeness-training"):
        client.make_bucket("likeness-training")
    monkeypatch.setenv("LIKENESS_MODEL_S3_ENDPOINT", s3_endpoint.endpoint)
    monkeypatch.setenv("LIKENESS_MODEL_S3_ACCESS_KEY", s3_endpoint.access_key)
    monkeypatch.setenv("LIKENESS_MODEL_S3_SECRET_KEY", s3_endpoint.secret_key)
    files = sorted(path.relative_to(prepared) for path in prepared.rglob("*") if path.is_file())
    assert publish_to_store(prepared, "s3://likeness-training/shards/v1") == len(files)

    config = settings("s3://likeness-training/shards/v1", tmp_path / "run", steps=1, checkpoint_every=1)
    launch(config, 1, progress=False)

    staged = tmp_path / "run" / "data"
    for relative in files:  # mirrored byte for byte
        assert (staged / relative).read_bytes() == (prepared / relative).read_bytes()
    assert [row["step"] for row in read_metrics(config.out)] == [1]
    assert (config.out / FINAL_ADAPTER).is_file()


def test_frozen_experts_sharded_over_the_ranks_train_on_the_replicated_loss_curve(
    trained: TrainConfig,
    prepared: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = settings(prepared, tmp_path / "run", shard_frozen=True)
    assert config.digest() == trained.digest()  # a replicated run may resume sharded, and back
    launch(config, 2, stop_after=3, progress=False)

    layout = json.loads((config.out / LAYOUT).read_text())
    replicated = json.loads((trained.out / LAYOUT).read_text())
    assert replicated["frozen_parameters_on_rank_0"] == replicated["frozen_parameters"]
    assert layout["frozen_sharded"] and layout["frozen_parameters"] == replicated["frozen_parameters"]
    # Each rank holds its half of every weight (a dimension of odd size splits one element unevenly).
    assert layout["frozen_parameters_on_rank_0"] <= 0.55 * layout["frozen_parameters"]
    sharded = read_metrics(config.out)
    assert [row["step"] for row in sharded] == [1, 2, 3]
    for mine, theirs in zip(sharded, read_metrics(trained.out)[:3], strict=False):
        assert mine["expert"] == theirs["expert"] and mine["sigma"] == theirs["sigma"]
        for key in ("total", "identity", "temporal", "diffusion"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-7), (mine["step"], key)
