"""The README's first command, exactly as written, on a fresh state directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.cli.provenance import inspect_clip
from likeness.sdk import AssetsClient
from tests.integration.test_graceful_shutdown import free_port
from tests.integration.test_up import interrupt, mint, start_up

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def readme_first_command() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None, "the README starts with a bash block"
    first = block.group(1).splitlines()[0]
    return first.split("#", 1)[0].strip()


def test_the_readme_demo_makes_a_marked_scored_clip(tmp_path: Path) -> None:
    command = readme_first_command()
    assert command == "bash scripts/setup && .venv/bin/likeness demo"
    state_dir = tmp_path / "state"
    ports = {name: free_port() for name in ("identity", "assets", "generator")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LIKENESS_")}
    environment.update({f"LIKENESS_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    environment["LIKENESS_STATE_DIR"] = str(state_dir)

    run = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "RANDOM weights" in run.stdout

    summary = json.loads((state_dir / "demo" / "summary.json").read_text())
    assert summary["job_state"] == "succeeded" and summary["random_weights"] is True
    clip = Path(summary["clip"])
    data = clip.read_bytes()
    assert data[4:8] == b"ftyp"

    # The manifest, read independently with the development root as trust anchor.
    report = inspect_clip(data, (state_dir / "c2pa" / "c2pa-dev-root.pem").read_bytes())
    assert report.valid, report.summary
    assertion = report.summary["likeness"]
    assert assertion["job_id"] == summary["job_id"]
    assert [c["character_id"] for c in assertion["characters"]] == [summary["character_id"]]
    assert assertion["characters"][0]["consent_id"] == summary["consent_id"]
    assert report.summary["digital_source_type"].endswith("trainedAlgorithmicMedia")

    # The stored QA scores, read back from a fresh start on the same state directory.
    process = start_up(state_dir, environment, tmp_path / "up.log")
    try:
        token = mint(state_dir, "likeness-demo")
        with AssetsClient(f"127.0.0.1:{ports['assets']}", token=token) as assets:
            asset = assets.api.GetGeneratedAsset(
                assets_pb.GetGeneratedAssetRequest(generated_asset_id=summary["generated_asset_id"])
            ).generated_asset
    finally:
        assert interrupt(process) == 0
    assert asset.clip_object_id == summary["clip_object_id"] and asset.job_id == summary["job_id"]
    assert len(asset.shots) == 2 and asset.model.random_weights
    (usage,) = asset.characters
    assert usage.character_id == summary["character_id"] and usage.consent_id == summary["consent_id"]
    assert usage.HasField("identity_score")
    assert 0.0 <= usage.identity_score.no_face_fraction <= 1.0
