"""Evaluating a trained identity adapter on held-out identities (``likeness train eval``).

For each held-out person in a set of prepared shards (one clip each: its caption and its z_id), the
model generates a clip per seed at each identity strength (by default 0, the plain model, and 0.8), the
clip is encoded as the generator encodes clips, and the identity service's ScoreVideo computation scores
it against the person's z_id: FaceSim, the same score as clip QA (mean similarity of the frames where
the person's face was found), and the fraction of frames with no face. The report gives, per strength,
the mean FaceSim and face rate, and the gain of each strength over strength 0 for the same seeds.

The prompt-following cost is measured with a CLIP model given as a local transformers directory
(``clip_model``; e.g. a copy of openai/clip-vit-large-patch14): CLIPSIM, the mean cosine similarity of
sampled frames to the caption, per clip, and per strength its change against strength 0 for the same
seeds (negative: the adapter costs prompt adherence). Without a CLIP model the report says so and gives
only how much of each clip the adapter changes against strength 0 (mean absolute pixel difference, 0-255).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from likeness.generator.model.adapter import IdentityAdapter
from likeness.generator.shots import CharacterConditioning, ShotRequest

GUIDANCE = 5.0
NEGATIVE = "blurry, distorted, low quality"


def _clip_bytes(frames: np.ndarray) -> bytes:
    from likeness.generator.training.clips import write_clip

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "clip.mp4"
        write_clip(path, frames)
        return path.read_bytes()


def face_similarity(engine: Any, frames: np.ndarray, z_id: np.ndarray) -> tuple[float | None, float]:
    """(FaceSim, fraction of sampled frames without the person's face) as ScoreVideo computes them."""
    from likeness.identity.media import VideoReader
    from likeness.identity.video import score_video

    settings = engine.settings
    reader = VideoReader(
        _clip_bytes(frames),
        max_bytes=settings.max_video_bytes,
        max_frame_pixels=settings.max_video_frame_pixels,
        max_frames=settings.max_video_frames,
    )
    score = asyncio.run(score_video(engine, reader, [("person", z_id.astype(np.float32))], 0))
    identity = score.identities[0]
    return identity.mean, identity.no_face_fraction


class PromptScorer:
    """CLIPSIM: the mean cosine similarity between a clip's sampled frames and its caption under a CLIP
    model read from a local transformers directory (model, tokenizer and image processor; nothing is
    downloaded)."""

    def __init__(self, path: Path, *, frames: int = 8, device: str | torch.device = "cpu") -> None:
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        self.model = CLIPModel.from_pretrained(path, local_files_only=True).eval().to(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.images = CLIPImageProcessor.from_pretrained(path, local_files_only=True)
        self.frames = frames
        self.device = torch.device(device)
        self.max_tokens = int(self.model.config.text_config.max_position_embeddings)

    @torch.no_grad()
    def __call__(self, frames: np.ndarray, caption: str) -> float:
        """``frames``: (T, H, W, 3) uint8; up to ``self.frames`` evenly spaced ones are scored."""
        picks = np.unique(np.linspace(0, len(frames) - 1, min(self.frames, len(frames))).round().astype(int))
        pixels = self.images(images=[frames[index] for index in picks], return_tensors="pt")["pixel_values"]
        text = self.tokenizer(
            [caption], padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        output = self.model(
            input_ids=text["input_ids"].to(self.device),
            attention_mask=text["attention_mask"].to(self.device),
            pixel_values=pixels.to(device=self.device, dtype=torch.float32),
        )
        images = F.normalize(output.image_embeds.float(), dim=-1)
        texts = F.normalize(output.text_embeds.float(), dim=-1)
        return float((images @ texts.T).mean().clamp(-1, 1))


def evaluate(
    adapter_path: Path,
    data: Path,
    engine: Any,
    *,
    model_dir: Path | None = None,
    tiny: bool = False,
    seeds: list[int],
    strengths: list[float],
    steps: int = 40,
    clip_model: Path | None = None,
) -> dict[str, Any]:
    """Generate and score; the report (also written beside the adapter as ``<name>.eval.json``)."""
    from likeness.generator.model.video import WanVideoModel
    from likeness.generator.training.shards import ShardDataset

    data = Path(data)
    dataset = ShardDataset(data)
    index = json.loads((data / "index.json").read_text())
    adapter = IdentityAdapter.load(adapter_path)
    if tiny:
        model = WanVideoModel.tiny(vace=False, draft=False, fast=False, adapter=adapter)
    else:
        if model_dir is None:
            raise ValueError("model_dir is required unless tiny is set")
        model = WanVideoModel.from_pretrained(model_dir, adapter_path=adapter_path, fast=False)
    scorer = PromptScorer(clip_model) if clip_model is not None else None
    people: dict[str, Any] = {}
    for sample in dataset:
        people.setdefault(sample.person_id, sample)
    rows: list[dict[str, Any]] = []
    for person, sample in people.items():
        z_id = sample.z_id.numpy().astype(np.float32)
        for seed in seeds:
            plain: np.ndarray | None = None
            for strength in strengths:
                request = ShotRequest(
                    request_id=f"eval-{person}-{seed}-{strength}",
                    prompt=sample.caption,
                    negative_prompt=NEGATIVE,
                    num_frames=int(index["frames"]),
                    height=int(index["height"]),
                    width=int(index["width"]),
                    seed=seed,
                    num_inference_steps=steps,
                    guidance_scale=GUIDANCE,
                    characters=(CharacterConditioning(person, z_id, strength),),
                )
                frames = model.generate(request).frames
                similarity, no_face = face_similarity(engine, frames, z_id)
                if strength == 0:
                    plain = frames
                change = (
                    float(np.abs(frames.astype(np.int16) - plain.astype(np.int16)).mean())
                    if plain is not None
                    else None
                )
                rows.append(
                    {"person_id": person, "seed": seed, "strength": strength, "face_sim": similarity,
                     "no_face_fraction": no_face, "pixel_change_vs_strength_0": change,
                     "clip_score": scorer(frames, sample.caption) if scorer is not None else None}
                )  # fmt: skip
    summary: dict[str, Any] = {
        "adapter": str(adapter_path),
        "adapter_version": adapter.version,
        "strengths": {},
    }
    for strength in strengths:
        mine = [row for row in rows if row["strength"] == strength]
        scored = [row["face_sim"] for row in mine if row["face_sim"] is not None]
        summary["strengths"][str(strength)] = {
            "clips": len(mine),
            "clips_with_face": len(scored),
            "face_sim_mean": statistics.mean(scored) if scored else None,
            "face_rate": 1 - statistics.mean(row["no_face_fraction"] for row in mine) if mine else None,
            "pixel_change_vs_strength_0": statistics.mean(
                row["pixel_change_vs_strength_0"]
                for row in mine
                if row["pixel_change_vs_strength_0"] is not None
            )
            if 0 in strengths
            else None,
        }
        if scorer is not None:
            summary["strengths"][str(strength)]["clip_score_mean"] = statistics.mean(
                row["clip_score"] for row in mine
            )
    base = summary["strengths"].get(str(0.0))
    for values in summary["strengths"].values():
        if base and base["face_sim_mean"] is not None and values["face_sim_mean"] is not None:
            values["face_sim_gain_over_strength_0"] = values["face_sim_mean"] - base["face_sim_mean"]
        if base and scorer is not None:
            # The prompt-following cost: CLIPSIM lost (negative) or gained against the plain model.
            values["clip_score_change_vs_strength_0"] = values["clip_score_mean"] - base["clip_score_mean"]
    report = {
        "summary": summary,
        "rows": rows,
        "random_weights": model.info.random_weights,
        "notes": [
            "FaceSim is ScoreVideo's mean similarity over the frames where the person's face was found.",
            "pixel_change_vs_strength_0 is how much of the clip the adapter changed (0-255)",
            f"prompt following: CLIPSIM (mean frame-caption cosine) under {clip_model}"
            if scorer is not None
            else "prompt following is not measured: no CLIP model was given (clip_model)",
        ],
        "clip_model": str(clip_model) if clip_model is not None else None,
    }
    target = adapter_path.with_name(adapter_path.stem + ".eval.json")
    target.write_text(json.dumps(report, indent=2))
    summary["report"] = str(target)
    return report
