"""Prepared training shards: their format, reading them back (:class:`ShardDataset`, lazily, a few
shards in memory), stacking samples into the trainer's batch, and moving shard directories through the
object store. :mod:`likeness.generator.training.prepare` writes them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from likeness.generator.model.train import TrainingBatch

#: The ``format`` of an ``index.json`` of prepared shards.
FORMAT = "likeness-adapter-shards/1"
INDEX_FILE = "index.json"


class PrepareError(ValueError):
    """The output directory cannot take this run: another manifest or configuration, or damage."""


@dataclass
class TrainingSample:
    """One prepared clip."""

    sample_id: str
    person_id: str
    caption: str
    #: Normalised VAE latents, (16, latent frames, h, w) float32.
    latents: torch.Tensor
    #: Caption embeddings, (text length, text dim) float32.
    prompt_embeds: torch.Tensor
    #: The identity of the reference photos, (512,) unit float32.
    z_id: torch.Tensor
    #: Pixel-frame indices of the face frames, (K,) int64.
    face_frames: torch.Tensor
    #: The subject's five landmarks on those frames in clip pixels, (K, 5, 2) float32.
    landmarks: torch.Tensor
    #: Aligned face crops of those frames, (K, 112, 112, 3) uint8 RGB.
    face_crops: torch.Tensor


# --- reading --------------------------------------------------------------------------------------------


@dataclass
class _Shard:
    samples: list[dict[str, Any]]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


class ShardDataset:
    """The samples of a shard directory, in index order; shards load on first use, and the most
    recently used ``cached_shards`` stay in memory."""

    def __init__(self, out_dir: str | Path, cached_shards: int = 2) -> None:
        self.directory = Path(out_dir)
        index = json.loads((self.directory / INDEX_FILE).read_text(encoding="utf-8"))
        if index.get("format") != FORMAT:
            raise PrepareError(f"{self.directory} has format {index.get('format')!r}, expected {FORMAT!r}")
        self.index: dict[str, Any] = index
        self.height: int = index["height"]
        self.width: int = index["width"]
        self.frames: int = index["frames"]
        self._locations = [
            (shard["file"], position)
            for shard in index["shards"]
            for position in range(len(shard["samples"]))
        ]
        self._cache: OrderedDict[str, _Shard] = OrderedDict()
        self._cached_shards = max(1, cached_shards)

    def __len__(self) -> int:
        return len(self._locations)

    def __iter__(self) -> Iterator[TrainingSample]:
        for position in range(len(self)):
            yield self[position]

    def _shard(self, name: str) -> _Shard:
        from safetensors import safe_open

        shard = self._cache.get(name)
        if shard is not None:
            self._cache.move_to_end(name)
            return shard
        with safe_open(str(self.directory / name), framework="pt") as handle:
            metadata = handle.metadata() or {}
            shard = _Shard(samples=json.loads(metadata.get("samples", "[]")))
            shard.tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        self._cache[name] = shard
        while len(self._cache) > self._cached_shards:
            self._cache.popitem(last=False)
        return shard

    def __getitem__(self, position: int) -> TrainingSample:
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(f"sample {position} of {len(self)}")
        name, local = self._locations[position]
        shard = self._shard(name)
        meta = shard.samples[local]
        tensors = shard.tensors
        return TrainingSample(
            sample_id=meta["id"],
            person_id=meta["person_id"],
            caption=meta["caption"],
            latents=tensors[f"{local}.latents"],
            prompt_embeds=tensors[f"{local}.prompt_embeds"],
            z_id=tensors[f"{local}.z_id"],
            face_frames=tensors[f"{local}.face_frames"],
            landmarks=tensors[f"{local}.landmarks"],
            face_crops=tensors[f"{local}.face_crops"],
        )


def to_batch(samples: Sequence[TrainingSample], device: Any = "cpu") -> TrainingBatch:
    """Samples stacked into the trainer's batch (latents, prompt embeddings and identities)."""
    from likeness.generator.model.train import TrainingBatch

    return TrainingBatch(
        latents=torch.stack([sample.latents for sample in samples]).to(device),
        prompt_embeds=torch.stack([sample.prompt_embeds for sample in samples]).to(device),
        z_id=torch.stack([sample.z_id for sample in samples]).to(device),
    )


# --- the object store ---------------------------------------------------------------------------------
#
# Footage and shards often live in the object store. ``s3://bucket/prefix`` locations are mirrored into a
# local folder before anything reads them (files already there with the same size are kept), and written
# shards are uploaded under a prefix; the store is the one ``LIKENESS_MODEL_S3_*`` names, as for weights.


def stage_from_store(uri: str, cache: Path, client: Any = None) -> Path:
    """Mirror ``s3://bucket/prefix`` (a manifest with its clips and photos, or prepared shards) into
    ``cache`` and return it; local paths come back unchanged."""
    if not uri.startswith("s3://"):
        return Path(uri)
    from likeness.generator.model.weights import WeightsLocation, client_from_environment, fetch_prefix

    return fetch_prefix(client or client_from_environment(), WeightsLocation.parse(uri), cache)


def publish_to_store(out_dir: Path, uri: str, client: Any = None) -> int:
    """Upload prepared shards (and their index) under ``s3://bucket/prefix``; returns the object count."""
    from likeness.generator.model.weights import WeightsLocation, client_from_environment, upload_directory

    if not (out_dir / INDEX_FILE).is_file():
        raise PrepareError(f"{out_dir} holds no prepared shards ({INDEX_FILE} is missing)")
    return int(upload_directory(client or client_from_environment(), out_dir, WeightsLocation.parse(uri)))
