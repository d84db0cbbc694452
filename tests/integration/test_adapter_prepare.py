"""Preparing adapter training shards with the real face models and the tiny random Wan pipeline.

The clips are synthetic (a slow pan and zoom over a still photo of one of the people in insightface's
t1.jpg). No package ships a second photo of any of these people, so each clip's references are
augmented copies (flipped, cropped) of the photo the clip was made from.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import likeness.generator.training.prepare as prep
from likeness.generator.training import clips, shards
from likeness.generator.training.manifest import read_manifest
from tests.fixtures.identity import augmentations, encode, t1_person

SIZE = 128
FRAMES = 9
CONFIG = prep.PrepareConfig(height=SIZE, width=SIZE, frames=FRAMES, samples_per_shard=2, face_frames=4)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from likeness.identity.engine import FaceEngine
    from likeness.identity.settings import IdentitySettings

    face_engine = FaceEngine(IdentitySettings(jwt_keys=[]))
    face_engine.start()
    yield face_engine
    face_engine.stop()


@pytest.fixture(scope="module")
def pipeline() -> Any:
    from likeness.generator.model.tiny import tiny_pipeline

    return tiny_pipeline(0, 2)


def _write_photo(path: Path, image: np.ndarray) -> str:
    path.write_bytes(encode(image, "PNG"))
    return path.name


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three usable clips, one whose references show no face, one too short, one malformed line."""
    root = tmp_path_factory.mktemp("data")
    lines = []
    for person in range(3):
        photo = t1_person(person)
        clips.write_clip(
            root / f"clip-{person}.mp4", clips.synthetic_clip(photo, FRAMES, 160, 160, seed=person)
        )
        variants = augmentations(photo)
        references = [
            _write_photo(root / f"ref-{person}-{name}.png", variants[name]) for name in ("flip", "crop")
        ]
        record: dict[str, Any] = {
            "id": f"clip-{person}",
            "clip": f"clip-{person}.mp4",
            "caption": f"person {person} looks at the camera",
            "references": references,
            "person_id": f"t1-{person}",
        }
        if person == 2:  # the whole source frame as the subject's box: exercises the box path
            record["face_boxes"] = [0, 0, 160, 160]
        lines.append(json.dumps(record))
    clips.write_clip(root / "faceless.mp4", clips.synthetic_clip(t1_person(3), FRAMES, 160, 160, seed=3))
    grey = np.full((256, 256, 3), 128, dtype=np.uint8)
    lines.append(
        json.dumps(
            {
                "id": "faceless-references",
                "clip": "faceless.mp4",
                "caption": "nobody",
                "references": [_write_photo(root / "grey.png", grey)],
                "person_id": "t1-3",
            }
        )
    )
    clips.write_clip(root / "short.mp4", clips.synthetic_clip(t1_person(4), 5, 160, 160, seed=4))
    lines.append(
        json.dumps(
            {
                "id": "too-short",
                "clip": "short.mp4",
                "caption": "a short clip",
                "references": [references[0]],
                "person_id": "t1-4",
            }
        )
    )
    lines.append('{"id": "broken", "clip": ')
    path = root / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prepared(manifest: Path, pipeline: Any, engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    report = prep.prepare(manifest, out, pipeline, engine, CONFIG, progress=False)
    assert report.complete
    assert report.kept == report.kept_this_run == 3
    reasons = {item.id: item.reason for item in report.dropped}
    assert set(reasons) == {"faceless-references", "too-short", "line 6"}
    assert "no reference photo was accepted" in reasons["faceless-references"]
    assert "no face" in reasons["faceless-references"]
    assert "5 frames, at least 9 needed" in reasons["too-short"]
    assert "not valid JSON" in reasons["line 6"]
    assert report.shards == ["shard-00000.safetensors", "shard-00001.safetensors"]
    return out


def test_index(prepared: Path, manifest: Path) -> None:
    index = json.loads((prepared / "index.json").read_text())
    assert index["format"] == "likeness-adapter-shards/1"
    assert (index["height"], index["width"], index["frames"]) == (SIZE, SIZE, FRAMES)
    assert index["shards"] == [
        {"file": "shard-00000.safetensors", "samples": ["clip-0", "clip-1"]},
        {"file": "shard-00001.safetensors", "samples": ["clip-2"]},
    ]
    assert index["manifest_sha256"] == prep.file_sha256(manifest)
    assert {item["id"] for item in index["dropped"]} == {"faceless-references", "too-short", "line 6"}
    assert not list(prepared.glob("*.tmp"))


def test_shard_tensors(prepared: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(prepared / "shard-00000.safetensors"), framework="np") as handle:
        samples = json.loads(handle.metadata()["samples"])
        assert [sample["id"] for sample in samples] == ["clip-0", "clip-1"]
        assert samples[1] == {"id": "clip-1", "person_id": "t1-1", "caption": "person 1 looks at the camera"}
        for position in range(2):
            latents = handle.get_tensor(f"{position}.latents")
            assert latents.shape == (16, (FRAMES - 1) // 4 + 1, SIZE // 8, SIZE // 8)
            assert latents.dtype == np.float32 and np.isfinite(latents).all()
            assert handle.get_tensor(f"{position}.prompt_embeds").shape == (512, 32)
            z_id = handle.get_tensor(f"{position}.z_id")
            assert z_id.shape == (512,) and z_id.dtype == np.float32
            assert abs(float(np.linalg.norm(z_id)) - 1.0) < 1e-4
            frames = handle.get_tensor(f"{position}.face_frames")
            assert frames.dtype == np.int64 and set(frames) <= {0, 1, 3, 4} and len(frames) >= 3
            landmarks = handle.get_tensor(f"{position}.landmarks")
            assert landmarks.shape == (len(frames), 5, 2) and landmarks.dtype == np.float32
            assert (landmarks >= 0).all() and (landmarks <= SIZE).all()
            crops = handle.get_tensor(f"{position}.face_crops")
            assert crops.shape == (len(frames), 112, 112, 3) and crops.dtype == np.uint8


def test_latents_match_trainer_normalisation(prepared: Path, pipeline: Any, manifest: Path) -> None:
    """The stored latents are what AdapterTrainer.encode_frames gives for the same pixels."""
    from likeness.generator.model.train import AdapterTrainer

    clip, _ = clips.read_clip(manifest.parent / "clip-0.mp4", FRAMES)
    clip = np.stack([clips.resize_crop(frame, SIZE, SIZE) for frame in clip])
    pixels = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    trainer = AdapterTrainer.__new__(AdapterTrainer)
    trainer.pipeline = pipeline
    expected = trainer.encode_frames(pixels)[0]
    sample = shards.ShardDataset(prepared)[0]
    torch.testing.assert_close(sample.latents, expected)
    assert torch.equal(sample.prompt_embeds, prep.encode_caption(pipeline, sample.caption))


def test_identity_matches_the_clip_faces(prepared: Path, engine: Any) -> None:
    """Each z_id matches its own clip's stored faces and not the other people's."""
    dataset = shards.ShardDataset(prepared)
    z_ids = torch.stack([sample.z_id for sample in dataset]).numpy()
    for row, sample in enumerate(dataset):
        crops = [np.ascontiguousarray(crop[..., ::-1]) for crop in sample.face_crops.numpy()]
        similarity = asyncio.run(engine.embed(crops)) @ z_ids.T
        assert (similarity[:, row] > engine.same_person_threshold).all()
        assert (similarity[:, row][:, None] > np.delete(similarity, row, axis=1)).all()


def test_dataset(prepared: Path) -> None:
    dataset = shards.ShardDataset(prepared, cached_shards=1)
    assert len(dataset) == 3
    samples = list(dataset)
    assert [sample.sample_id for sample in samples] == ["clip-0", "clip-1", "clip-2"]
    assert [sample.person_id for sample in samples] == ["t1-0", "t1-1", "t1-2"]
    assert dataset[-1].caption == "person 2 looks at the camera"
    assert samples[2].face_crops.dtype == torch.uint8 and samples[2].face_frames.dtype == torch.int64
    assert len(dataset._cache) == 1
    with pytest.raises(IndexError):
        dataset[3]
    batch = shards.to_batch(samples)
    assert batch.latents.shape == (3, 16, 3, 16, 16)
    assert batch.prompt_embeds.shape == (3, 512, 32) and batch.z_id.shape == (3, 512)


def test_resume(prepared: Path, manifest: Path, pipeline: Any, engine: Any, tmp_path: Path) -> None:
    first = prep.prepare(manifest, tmp_path, pipeline, engine, CONFIG, progress=False, stop_after=1)
    assert not first.complete and first.kept == 2 and first.shards == ["shard-00000.safetensors"]
    written = (tmp_path / "shard-00000.safetensors").stat().st_mtime_ns

    second = prep.prepare(manifest, tmp_path, pipeline, engine, CONFIG, progress=False)
    assert second.complete and second.kept == 3 and second.kept_this_run == 1
    assert second.skipped == 2 + len([item for item in first.dropped if not item.id.startswith("line")])
    assert (tmp_path / "shard-00000.safetensors").stat().st_mtime_ns == written
    resumed = json.loads((tmp_path / "index.json").read_text())
    full = json.loads((prepared / "index.json").read_text())
    assert resumed["shards"] == full["shards"]
    assert sorted(map(json.dumps, resumed["dropped"])) == sorted(map(json.dumps, full["dropped"]))
    for mine, theirs in zip(shards.ShardDataset(tmp_path), shards.ShardDataset(prepared), strict=True):
        assert torch.equal(mine.latents, theirs.latents) and torch.equal(mine.z_id, theirs.z_id)

    third = prep.prepare(manifest, tmp_path, pipeline, engine, CONFIG, progress=False)
    assert third.kept_this_run == 0 and third.skipped == 5 and third.complete


def test_rerun_with_other_config_or_manifest_fails(
    prepared: Path, manifest: Path, pipeline: Any, engine: Any, tmp_path: Path
) -> None:
    other = prep.PrepareConfig(height=SIZE, width=SIZE, frames=FRAMES, samples_per_shard=3, face_frames=4)
    with pytest.raises(shards.PrepareError, match=r"another configuration.*samples_per_shard"):
        prep.prepare(manifest, prepared, pipeline, engine, other, progress=False)
    changed = tmp_path / "manifest.jsonl"
    changed.write_text(manifest.read_text() + "\n\n")
    with pytest.raises(shards.PrepareError, match="another manifest"):
        prep.prepare(changed, prepared, pipeline, engine, CONFIG, progress=False)


def test_manifest_validation(tmp_path: Path) -> None:
    good = {"id": "a", "clip": "a.mp4", "caption": "c", "references": ["r.jpg"], "person_id": "p"}
    records = [
        good,
        {**good, "id": "b", "references": []},
        {**good, "id": "c", "references": ["1", "2", "3", "4", "5", "6"]},
        {**good, "id": "d", "caption": ""},
        {**good, "id": "e", "face_boxes": [[0, 0, 10, 10], [5, 5, 1, 1]]},
        {**good, "id": "f", "face_boxes": [[0, 0, 10, 10], [1, 1, 5, 5]]},
        {key: value for key, value in good.items() if key != "person_id"} | {"id": "g"},
        good,
        [1, 2],
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n\n")
    entries, dropped = read_manifest(path)
    assert [entry.id for entry in entries] == ["a", "f"]
    assert entries[0].clip == tmp_path / "a.mp4" and entries[0].references == (tmp_path / "r.jpg",)
    assert entries[1].face_boxes == ((0, 0, 10, 10), (1, 1, 5, 5))
    reasons = {item.id: item.reason for item in dropped}
    assert set(reasons) == {"b", "c", "d", "e", "g", "a (8)", "line 9"}
    assert "1 to 5" in reasons["b"] and "1 to 5" in reasons["c"] and "'caption'" in reasons["d"]
    assert "face_boxes" in reasons["e"] and "'person_id'" in reasons["g"] and "duplicate" in reasons["a (8)"]
    assert "not a JSON object" in reasons["line 9"]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="4k\\+1"):
        prep.PrepareConfig(frames=8)
    with pytest.raises(ValueError, match="multiples of 16"):
        prep.PrepareConfig(height=100)
    with pytest.raises(ValueError, match="face_frames"):
        prep.PrepareConfig(frames=5, face_frames=6)


def test_synthetic_clip_round_trip(tmp_path: Path) -> None:
    clip = clips.synthetic_clip(t1_person(0), 5, 96, 128, seed=1)
    assert clip.shape == (5, 96, 128, 3) and clip.dtype == np.uint8
    assert np.abs(clip[0].astype(int) - clip[-1].astype(int)).mean() > 2  # it moves
    clips.write_clip(tmp_path / "c.mp4", clip)
    read, source = clips.read_clip(tmp_path / "c.mp4", 5)
    assert source == (96, 128) and read.shape == clip.shape
    assert np.abs(read.astype(int) - clip.astype(int)).mean() < 4
    with pytest.raises(ValueError, match="5 frames, at least 9"):
        clips.read_clip(tmp_path / "c.mp4", 9)
    with pytest.raises(ValueError, match="cannot be read"):
        clips.read_clip(tmp_path / "missing.mp4", 1)
