"""Weights from an object-store prefix: uploaded once, mirrored into a local directory, loaded offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from likeness.generator.model.video import WanVideoModel
from likeness.generator.model.weights import WeightsLocation, fetch_prefix, upload_directory
from likeness.generator.serve_app import VideoModelArgs, load_model
from likeness.generator.shots import CharacterConditioning, ShotRequest
from tests.fixtures.radosgw import S3Endpoint

pytestmark = pytest.mark.s3


def test_a_replica_loads_weights_from_an_object_store_prefix(
    s3_endpoint: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_endpoint.client()
    if not client.bucket_exists("likeness-models"):
        client.make_bucket("likeness-models")
    model = WanVideoModel.tiny(seed=0)
    model.save_pretrained(tmp_path / "saved")
    location = WeightsLocation.parse("s3://likeness-models/tiny-wan2.2/v1")
    uploaded = upload_directory(client, tmp_path / "saved", location)
    assert uploaded > 10

    monkeypatch.setenv("LIKENESS_MODEL_S3_ENDPOINT", s3_endpoint.endpoint)
    monkeypatch.setenv("LIKENESS_MODEL_S3_ACCESS_KEY", s3_endpoint.access_key)
    monkeypatch.setenv("LIKENESS_MODEL_S3_SECRET_KEY", s3_endpoint.secret_key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = VideoModelArgs(
        variant="a14b", model_dir=str(tmp_path / "models"), weights_uri="s3://likeness-models/tiny-wan2.2/v1"
    )
    loaded = load_model(args)
    assert loaded.info == model.info and loaded.info.random_weights
    saved_files = sorted(
        p.relative_to(tmp_path / "saved") for p in (tmp_path / "saved").rglob("*") if p.is_file()
    )
    mirrored = sorted(
        p.relative_to(tmp_path / "models") for p in (tmp_path / "models").rglob("*") if p.is_file()
    )
    assert mirrored == saved_files

    z_id = np.ones(512, dtype=np.float32) / np.sqrt(512)
    request = ShotRequest(
        request_id="s3",
        prompt="a man smiles",
        negative_prompt="",
        num_frames=5,
        height=32,
        width=32,
        seed=2,
        num_inference_steps=2,
        guidance_scale=5.0,
        characters=(CharacterConditioning("c", z_id, 0.8),),
    )
    (expected,) = model.denoise([request])
    (actual,) = loaded.denoise([request])
    assert float(np.abs(expected - actual).max()) < 1e-5

    # A second fetch finds every file in place and downloads nothing.
    before = {path: path.stat().st_mtime_ns for path in (tmp_path / "models").rglob("*") if path.is_file()}
    fetch_prefix(client, location, tmp_path / "models")
    after = {path: path.stat().st_mtime_ns for path in (tmp_path / "models").rglob("*") if path.is_file()}
    assert after == before


def test_an_empty_prefix_or_a_bad_uri_is_refused(s3_endpoint: S3Endpoint, tmp_path: Path) -> None:
    client = s3_endpoint.client()
    if not client.bucket_exists("likeness-models"):
        client.make_bucket("likeness-models")
    with pytest.raises(FileNotFoundError, match="no objects"):
        fetch_prefix(client, WeightsLocation.parse("s3://likeness-models/absent/v9"), tmp_path)
    for uri in ("likeness-models/x", "s3://likeness-models", "gs://bucket/prefix"):
        with pytest.raises(ValueError, match="s3://bucket/prefix"):
            WeightsLocation.parse(uri)
