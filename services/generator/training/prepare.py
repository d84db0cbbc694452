"""Training shards for the identity adapter: a manifest of clips in (:mod:`likeness.generator.training.
manifest`), safetensors shards out.

For each kept clip, :func:`prepare` stores the normalised VAE latents of its first ``frames`` frames
(resized and centre-cropped), the text embeddings of its caption (both exactly as
:class:`likeness.generator.model.train.AdapterTrainer` computes them), the identity ``z_id`` of its
reference photos (as the identity service's EncodeIdentity computes it, default quality gate included),
and, for ``face_frames`` evenly spaced frames, the subject's five landmarks and aligned 112x112 face
crop. Samples go into ``shard-00000.safetensors``, ``shard-00001.safetensors``, ... (sample ``i`` of a
shard has the tensors ``"{i}.latents"``, ``"{i}.prompt_embeds"``, ``"{i}.z_id"``, ``"{i}.face_frames"``,
``"{i}.landmarks"`` and ``"{i}.face_crops"``; the metadata key ``"samples"`` lists their ids, people and
captions), described by ``index.json``.

Preparation resumes: shards are written atomically and the index after each one, so a rerun with the
same manifest and configuration skips what is already stored or dropped and finishes the rest.

Reading the shards back, their format and the object store are in :mod:`likeness.generator.training.
shards`; clips in and out (and synthetic ones from still photos) in :mod:`likeness.generator.training.clips`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from likeness.errors import FailedPrecondition
from likeness.generator.model.tiny import TEXT_LENGTH
from likeness.generator.model.train import latent_stats
from likeness.generator.training.clips import RgbClip, read_clip, resize_crop
from likeness.generator.training.manifest import Dropped, ManifestEntry, read_manifest
from likeness.generator.training.shards import FORMAT, INDEX_FILE, PrepareError
from likeness.identity.encode import DOMINANT_AREA_RATIO, Photo, encode_identity
from likeness.identity.media import MediaError, decode_image, sample_indices
from likeness.identity.quality import Face, Thresholds, dominant_face

if TYPE_CHECKING:
    from likeness.identity.engine import FaceEngine

EMBEDDING_SIZE = 512
CROP_SIZE = 112
#: Height and width must be multiples of this: the VAE's spatial stride (8) times the patch size (2).
SPATIAL_MULTIPLE = 16


@dataclass(frozen=True)
class PrepareConfig:
    """What every sample of one set of shards shares."""

    height: int = 480
    width: int = 832
    #: Pixel frames per clip; 4k+1, as the VAE compresses time by 4 after the first frame.
    frames: int = 81
    samples_per_shard: int = 64
    #: Frames per clip, evenly spaced over the first ``face_window`` frames, whose faces are stored for
    #: the identity loss. The trainer decodes only a prefix of each clip (``decode_latent_frames``
    #: latent frames = 1 + 4 (n - 1) frames), so the faces it can use lie in that prefix; None: the
    #: whole clip.
    face_frames: int = 4
    face_window: int | None = 5
    #: The reference photos' quality gate; ``None``: the identity service's defaults (its outlier
    #: threshold is the face pack's same-person threshold).
    thresholds: Thresholds | None = None

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ValueError("height and width must be positive")
        if self.height % SPATIAL_MULTIPLE or self.width % SPATIAL_MULTIPLE:
            raise ValueError(f"height and width must be multiples of {SPATIAL_MULTIPLE}")
        if self.frames < 1 or self.frames % 4 != 1:
            raise ValueError(f"frames must be 4k+1, got {self.frames}")
        if self.samples_per_shard < 1:
            raise ValueError("samples_per_shard must be at least 1")
        if not 1 <= self.face_frames <= self.frames:
            raise ValueError(f"face_frames must be between 1 and frames ({self.frames})")
        if self.face_window is not None and not self.face_frames <= self.face_window:
            raise ValueError("face_window must hold at least face_frames frames")

    def resolved_thresholds(self, engine: FaceEngine) -> Thresholds:
        """The gate in force: the given one, or EncodeIdentity's defaults for this engine."""
        if self.thresholds is not None:
            return self.thresholds
        return Thresholds(outlier_similarity_threshold=engine.same_person_threshold)


@dataclass
class PrepareReport:
    """The state of the shards after one :func:`prepare` run."""

    #: Samples stored in all shards, earlier runs included.
    kept: int
    #: Samples stored by this run.
    kept_this_run: int
    #: Entries already stored or dropped by earlier runs, not looked at again.
    skipped: int
    dropped: list[Dropped]
    shards: list[str]
    #: False when the run stopped early (``stop_after``) with entries left to do.
    complete: bool


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- clips ----------------------------------------------------------------------------------------------


def encode_latents(pipeline: Any, clip: RgbClip) -> torch.Tensor:
    """Normalised VAE latents (16, latent frames, h, w) float32 of a clip (F, H, W, 3) RGB, as
    ``AdapterTrainer.encode_frames`` computes them."""
    vae = pipeline.vae
    device = pipeline._execution_device
    pixels = torch.from_numpy(np.ascontiguousarray(clip)).to(device).permute(3, 0, 1, 2)[None]
    pixels = pixels.float() / 127.5 - 1.0
    mean, std = latent_stats(vae, device)
    with torch.no_grad():
        raw = vae.encode(pixels.to(vae.dtype)).latent_dist.mode()
    return ((raw - mean) / std).float()[0].cpu()  # type: ignore[no-any-return]


def encode_caption(pipeline: Any, caption: str) -> torch.Tensor:
    """Text embeddings (text length, text dim) float32 of a caption, as ``AdapterTrainer.encode_prompts``
    computes them (kept in float32 here; the trainer casts to the experts' dtype)."""
    with torch.no_grad():
        embeds, _ = pipeline.encode_prompt(
            prompt=[caption],
            do_classifier_free_guidance=False,
            max_sequence_length=TEXT_LENGTH,
            device=pipeline._execution_device,
        )
    return embeds[0].float().cpu()  # type: ignore[no-any-return]


def _read_photo(engine: FaceEngine, path: Path) -> NDArray[np.uint8]:
    settings = engine.settings
    return decode_image(
        path.read_bytes(),
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        min_side_px=settings.min_image_side_px,
    )


async def encode_references(
    engine: FaceEngine, paths: Sequence[Path], thresholds: Thresholds
) -> NDArray[np.float32]:
    """The unit ``z_id`` of reference photos, as EncodeIdentity makes it; ValueError with every
    photo's reason when none is accepted."""
    photos: list[Photo] = []
    problems: list[str] = []
    for index, path in enumerate(paths):
        try:
            image = await asyncio.to_thread(_read_photo, engine, path)
        except (OSError, MediaError) as error:
            problems.append(f"reference {index} ({path.name}): {error}")
            continue
        photos.append(Photo(image=image, label=f"reference {index} ({path.name})"))
    if not photos:
        raise ValueError("no reference photo could be read: " + "; ".join(problems))
    try:
        result = await encode_identity(engine, photos, thresholds)
    except FailedPrecondition as error:
        labels = {f"reference_photos[{index}]": photo.label for index, photo in enumerate(photos)}
        reasons = [
            f"{labels.get(violation.subject, violation.subject)}: {violation.description}"
            for violation in error.violations
        ]
        raise ValueError("no reference photo was accepted: " + "; ".join(problems + reasons)) from None
    z_id = np.asarray(result.z_id, dtype=np.float32)
    return (z_id / np.linalg.norm(z_id)).astype(np.float32)


def _overlap(face: Face, box: tuple[float, float, float, float]) -> float:
    """Intersection over union of a face's box and ``box``."""
    x1, y1 = max(face.box[0], box[0]), max(face.box[1], box[1])
    x2, y2 = min(face.box[2], box[2]), min(face.box[3], box[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = face.area + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / union if union > 0 else 0.0


def _box_in_clip(
    box: tuple[float, float, float, float], source: tuple[int, int], height: int, width: int
) -> tuple[float, float, float, float]:
    """A source-pixel box in the resized and centre-cropped clip's pixels (as :func:`resize_crop`)."""
    source_height, source_width = source
    scale = max(height / source_height, width / source_width)
    left = (max(width, round(source_width * scale)) - width) // 2
    top = (max(height, round(source_height * scale)) - height) // 2
    return (box[0] * scale - left, box[1] * scale - top, box[2] * scale - left, box[3] * scale - top)


async def subject_faces(
    engine: FaceEngine,
    clip: RgbClip,
    indices: Sequence[int],
    boxes: Sequence[tuple[float, float, float, float]] | None = None,
) -> list[tuple[int, NDArray[np.float32], NDArray[np.uint8]]]:
    """(frame index, landmarks (5, 2), aligned crop 112x112 RGB) of the subject on each listed frame
    that shows one. The subject is the face overlapping that frame's box most (``boxes`` in clip pixels,
    one per listed frame), else the largest face."""
    images = [np.ascontiguousarray(clip[index][..., ::-1]) for index in indices]
    detections = await engine.detect_many(images)
    found = []
    for position, (index, image, faces) in enumerate(zip(indices, images, detections, strict=True)):
        if boxes is not None:
            box = boxes[position]
            ranked = sorted(((_overlap(face, box), face) for face in faces), key=lambda item: -item[0])
            face = ranked[0][1] if ranked and ranked[0][0] > 0 else None
        else:
            face, _ = dominant_face(faces, DOMINANT_AREA_RATIO)
        if face is None:
            continue
        crop = engine.align(image, [face])[0]
        landmarks = np.asarray(face.landmarks, dtype=np.float32).reshape(5, 2)
        found.append((index, landmarks, np.ascontiguousarray(crop[..., ::-1])))
    return found


# --- preparation ----------------------------------------------------------------------------------------


def _config_record(config: PrepareConfig, thresholds: Thresholds) -> dict[str, Any]:
    record = asdict(config)
    record["thresholds"] = asdict(thresholds)
    return record


def _write_atomic(path: Path, write: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_index(out_dir: Path, index: dict[str, Any]) -> None:
    text = json.dumps(index, indent=2, ensure_ascii=False) + "\n"
    _write_atomic(out_dir / INDEX_FILE, lambda path: path.write_text(text, encoding="utf-8"))


def _write_shard(path: Path, samples: list[tuple[dict[str, Any], dict[str, NDArray[Any]]]]) -> None:
    from safetensors.numpy import save_file

    tensors: dict[str, NDArray[Any]] = {}
    metadata = []
    for position, (meta, arrays) in enumerate(samples):
        metadata.append(meta)
        for name, array in arrays.items():
            tensors[f"{position}.{name}"] = np.ascontiguousarray(array)
    _write_atomic(
        path, lambda target: save_file(tensors, str(target), metadata={"samples": json.dumps(metadata)})
    )


def _load_index(
    out_dir: Path, manifest_sha: str, config: PrepareConfig, config_record: dict[str, Any]
) -> dict[str, Any] | None:
    path = out_dir / INDEX_FILE
    if not path.exists():
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PrepareError(f"{path} is not valid JSON: {error.msg}") from None
    if index.get("format") != FORMAT:
        raise PrepareError(f"{path} has format {index.get('format')!r}, expected {FORMAT!r}")
    if index.get("manifest_sha256") != manifest_sha:
        raise PrepareError(
            f"{out_dir} holds shards of another manifest (sha256 {index.get('manifest_sha256')}); "
            "use a new output directory or the original manifest"
        )
    if index.get("config") != config_record:
        changed = sorted(
            key
            for key in set(config_record) | set(index.get("config") or {})
            if (index.get("config") or {}).get(key) != config_record.get(key)
        )
        raise PrepareError(
            f"{out_dir} holds shards made with another configuration (differs in {', '.join(changed)}); "
            "use a new output directory or the original configuration"
        )
    for shard in index["shards"]:
        if not (out_dir / shard["file"]).is_file():
            raise PrepareError(f"{out_dir / shard['file']} is listed in {INDEX_FILE} but missing")
    return index  # type: ignore[no-any-return]


async def _prepare_entry(
    entry: ManifestEntry, pipeline: Any, engine: FaceEngine, config: PrepareConfig, thresholds: Thresholds
) -> dict[str, NDArray[Any]]:
    """One entry's tensors; ValueError with the reason when it cannot be used."""
    source, source_size = await asyncio.to_thread(read_clip, entry.clip, config.frames)
    clip = np.stack([resize_crop(frame, config.height, config.width) for frame in source])
    z_id = await encode_references(engine, entry.references, thresholds)
    window = min(config.frames, config.face_window or config.frames)
    indices = sample_indices(window, config.face_frames)
    boxes = None
    if entry.face_boxes is not None:
        if len(entry.face_boxes) != 1 and len(entry.face_boxes) < config.frames:
            raise ValueError(
                f"face_boxes has {len(entry.face_boxes)} boxes: give one, or one per frame (at least "
                f"{config.frames})"
            )
        per_frame = [entry.face_boxes[0 if len(entry.face_boxes) == 1 else index] for index in indices]
        boxes = [_box_in_clip(box, source_size, config.height, config.width) for box in per_frame]
    faces = await subject_faces(engine, clip, indices, boxes)
    if not faces:
        raise ValueError(f"no face found on any of the sampled frames {list(indices)}")
    return {
        "latents": encode_latents(pipeline, clip).numpy(),
        "prompt_embeds": encode_caption(pipeline, entry.caption).numpy(),
        "z_id": z_id,
        "face_frames": np.asarray([index for index, _, _ in faces], dtype=np.int64),
        "landmarks": np.stack([landmarks for _, landmarks, _ in faces]).astype(np.float32),
        "face_crops": np.stack([crop for _, _, crop in faces]).astype(np.uint8),
    }


def prepare(
    manifest_path: str | Path,
    out_dir: str | Path,
    pipeline: Any,
    engine: FaceEngine,
    config: PrepareConfig,
    progress: bool = True,
    *,
    stop_after: int | None = None,
) -> PrepareReport:
    """Turn a manifest into training shards in ``out_dir``, resuming an earlier run there.

    ``pipeline`` is a Wan pipeline (its VAE and text encoder are used); ``engine`` a started
    :class:`~likeness.identity.engine.FaceEngine`. Synchronous: call it outside a running event loop.
    ``stop_after`` stops after writing that many new shards (the rest is left for a rerun). Raises
    :class:`PrepareError` when ``out_dir`` holds shards of another manifest or configuration.
    """
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    manifest = Path(manifest_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_sha = file_sha256(manifest)
    thresholds = config.resolved_thresholds(engine)
    config_record = _config_record(config, thresholds)
    index = _load_index(out, manifest_sha, config, config_record) or {
        "format": FORMAT,
        "height": config.height,
        "width": config.width,
        "frames": config.frames,
        "config": config_record,
        "manifest_sha256": manifest_sha,
        "shards": [],
        "dropped": [],
    }
    entries, invalid = read_manifest(manifest)
    dropped: dict[str, str] = {item["id"]: item["reason"] for item in index["dropped"]}
    for item in invalid:
        dropped.setdefault(item.id, item.reason)
    stored = {sample for shard in index["shards"] for sample in shard["samples"]}
    todo = [entry for entry in entries if entry.id not in stored and entry.id not in dropped]
    skipped = len(entries) - len(todo)

    def save_index() -> None:
        index["dropped"] = [{"id": key, "reason": value} for key, value in dropped.items()]
        _write_index(out, index)

    pending: list[tuple[dict[str, Any], dict[str, NDArray[Any]]]] = []
    kept_this_run = 0
    written = 0

    def flush() -> None:
        nonlocal written, kept_this_run
        number = len(index["shards"])
        name = f"shard-{number:05d}.safetensors"
        _write_shard(out / name, pending)
        index["shards"].append({"file": name, "samples": [meta["id"] for meta, _ in pending]})
        save_index()
        kept_this_run += len(pending)
        written += 1
        pending.clear()

    complete = True
    with tqdm(total=len(todo), disable=not progress, desc="preparing clips", unit="clip") as bar:
        for entry in todo:
            if stop_after is not None and written >= stop_after:
                complete = False
                break
            try:
                arrays = asyncio.run(_prepare_entry(entry, pipeline, engine, config, thresholds))
            except ValueError as error:
                dropped[entry.id] = str(error)
            else:
                meta = {"id": entry.id, "person_id": entry.person_id, "caption": entry.caption}
                pending.append((meta, arrays))
                if len(pending) == config.samples_per_shard:
                    flush()
            bar.update(1)
            bar.set_postfix(kept=kept_this_run + len(pending), dropped=len(dropped))
    if complete and pending:
        flush()
    save_index()
    return PrepareReport(
        kept=sum(len(shard["samples"]) for shard in index["shards"]),
        kept_this_run=kept_this_run,
        skipped=skipped,
        dropped=[Dropped(key, value) for key, value in dropped.items()],
        shards=[shard["file"] for shard in index["shards"]],
        complete=complete,
    )
