"""`likeness demo`: the whole path once, on embedded defaults.

Starts the services if they are not running, creates a brand, registers a character from a public-domain
portrait that ships with scikit-image (NASA's astronaut photo) with a demo consent record, generates a
2-shot storyboard with the tiny random-weight model, downloads the stitched clip, verifies its C2PA
content credentials and its stored QA scores, and prints where everything is.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import typer
from rich.table import Table

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.common.v1 import faces_pb2
from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.cli.characters import add_identity, record_consent
from likeness.cli.common import EXIT_CHECK_FAILED, Cli, CliFailure, out_console, to_dict
from likeness.cli.jobs import RANDOM_WEIGHTS_NOTICE, generate
from likeness.cli.provenance import verify_clip
from likeness.cli.registry import download_to
from likeness.cli.up import SERVICE_NAMES, SERVICES, _serving
from likeness.sdk import LikenessError

DEMO_BRAND = "likeness-demo"
READY_TIMEOUT_S = 300.0

STORYBOARD = """\
# The demo storyboard: two short shots of one character on the tiny random-weight model.
purpose: internal_testing
channel: internal
territory: WORLD
defaults: {{resolution: 480p, frames: 9, steps: 4, guidance: 4.0}}
characters:
  astronaut: {{id: {character_id}, strength: 0.8}}
shots:
  - prompt: an astronaut in an orange flight suit smiles at the camera, studio portrait
    characters: [astronaut]
    seed: 1
  - prompt: the same astronaut turns her head and looks out of a window, soft daylight
    characters: [astronaut]
    seed: 2
"""


def _addresses(cli: Cli) -> dict[str, str]:
    settings = cli.settings
    ports = {
        "identity": settings.identity_port,
        "assets": settings.assets_port,
        "generator": settings.generator_port,
    }
    targets = {
        "identity": settings.identity_target,
        "assets": settings.assets_target,
        "generator": settings.generator_target,
    }
    return {name: targets[name] or f"{settings.host}:{ports[name]}" for name in SERVICES}


def _all_serving(cli: Cli) -> bool:
    return all(_serving(address, SERVICE_NAMES[name]) for name, address in _addresses(cli).items())


def start_services(cli: Cli) -> subprocess.Popen[bytes] | None:
    """Start `likeness up` in the background unless the services already answer; returns its process."""
    if _all_serving(cli):
        cli.info("services: already running")
        return None
    log = cli.settings.state_dir / "logs" / "up.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cli.info(f"services: starting `likeness up` (log: {log}) …")
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "likeness.cli.main", "up", "--state-dir", str(cli.settings.state_dir)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CliFailure(f"`likeness up` exited with {process.returncode}; see {log}")
        if _all_serving(cli):
            return process
        time.sleep(0.5)
    stop_services(process)
    raise CliFailure(f"the services were not ready after {READY_TIMEOUT_S:.0f} s; see {log}")


def stop_services(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def demo_photos(directory: Path) -> list[Path]:
    """Three reference photos of one person: the astronaut portrait, mirrored, and a closer crop."""
    from PIL import Image, ImageOps
    from skimage import data

    directory.mkdir(parents=True, exist_ok=True)
    portrait = Image.fromarray(data.astronaut())  # type: ignore[no-untyped-call]
    variants = {
        "astronaut.png": portrait,
        "astronaut-mirrored.png": ImageOps.mirror(portrait),
        "astronaut-close.png": portrait.crop((60, 0, 380, 320)).resize((400, 400)),
    }
    paths = []
    for name, image in variants.items():
        path = directory / name
        image.save(path)
        paths.append(path)
    return paths


def demo_evidence(path: Path) -> Path:
    """A PNG that says plainly it is a demo consent record, not a real release."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (900, 240), "white")
    draw = ImageDraw.Draw(image)
    lines = [
        "LIKENESS DEMO CONSENT RECORD - NOT A REAL RELEASE",
        "Subject: the astronaut portrait shipped with scikit-image (NASA, public domain).",
        "Scope: internal testing only; made by `likeness demo` to exercise the consent gate.",
    ]
    for row, line in enumerate(lines):
        draw.text((20, 40 + 50 * row), line, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def run_demo(cli: Cli, output_dir: Path, keep_running: bool) -> None:
    cli.settings.brand = DEMO_BRAND
    work = output_dir
    work.mkdir(parents=True, exist_ok=True)
    process = start_services(cli)
    try:
        summary = _run_steps(cli, work)
    finally:
        if process is not None and not keep_running:
            cli.info("services: stopping the ones this demo started (`likeness up` starts them again)")
            stop_services(process)
    summary["summary_file"] = work / "summary.json"
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    cli.emit(summary, lambda: out_console.print(_summary_table(summary)))
    if not cli.json_output:
        out_console.print(RANDOM_WEIGHTS_NOTICE)
    if not summary["provenance_valid"] or summary["job_state"] != "succeeded":
        raise typer.Exit(EXIT_CHECK_FAILED)


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="likeness demo", show_header=False)
    plain = ("state_dir", "brand", "character_id", "identity_version", "consent_id", "storyboard", "job_id")
    for key in plain:
        table.add_row(key.replace("_", " "), str(summary[key]))
    table.add_row(
        "job", summary["job_state"] + (f": {summary['job_error']}" if "job_error" in summary else "")
    )
    if "clip" in summary:
        provenance = summary["provenance"]
        source = provenance["digital_source_type"].rsplit("/", 1)[-1]
        verdict = "valid" if summary["provenance_valid"] else "NOT valid"
        table.add_row("clip", str(summary["clip"]))
        table.add_row("C2PA", f"{verdict} ({provenance['validation_state']}), c2pa.created, {source}")
        for character_id, usage in summary["stored_identity_scores"].items():
            score = usage.get("identity_score", {})
            mean = score.get("mean_similarity")
            table.add_row(
                "stored QA score",
                f"{character_id}: mean similarity {'-' if mean is None else f'{mean:.3f}'}, "
                f"face missing in {score.get('no_face_fraction', 0):.0%} of sampled frames"
                + (" (flagged)" if summary["qa_flagged"] else ""),
            )
    table.add_row("everything above", str(summary["summary_file"]))
    return table


def _run_steps(cli: Cli, work: Path) -> dict[str, Any]:
    with cli.assets() as assets:
        try:
            assets.api.CreateBrand(
                assets_pb.CreateBrandRequest(brand_id=DEMO_BRAND, display_name="Likeness demo")
            )
            cli.info(f"brand: created {DEMO_BRAND}")
        except LikenessError as error:  # an existing demo brand from an earlier run is fine
            if error.code != grpc.StatusCode.ALREADY_EXISTS:
                raise
            cli.info(f"brand: {DEMO_BRAND} (from an earlier run)")
        cli.save(brand=DEMO_BRAND)
        character = assets.api.CreateCharacter(
            assets_pb.CreateCharacterRequest(
                display_name="Demo astronaut",
                description="Registered by `likeness demo` from scikit-image's public-domain "
                "astronaut portrait.",
                declared_attributes=assets_pb.DeclaredAttributes(gender=faces_pb2.GENDER_FEMALE),
            )
        ).character
        cli.info(f"character: {character.character_id}")
        consent = record_consent(
            assets,
            character.character_id,
            subject="Demo subject (scikit-image astronaut portrait)",
            evidence=demo_evidence(work / "demo-consent.png"),
            purposes=["internal_testing"],
            channels=["internal"],
            territories=["WORLD"],
            valid_from=None,
            valid_until=None,
            notes="Demo consent record made by `likeness demo`; not a real release.",
        )
        cli.info(f"consent: {consent.consent_id} (demo record)")
        identity = add_identity(cli, assets, character.character_id, demo_photos(work / "photos"))

    storyboard = work / "storyboard.yaml"
    storyboard.write_text(STORYBOARD.format(character_id=character.character_id))
    job, _ = generate(cli, storyboard, None, None, wait=True)
    summary: dict[str, Any] = {
        "state_dir": cli.settings.state_dir,
        "brand": DEMO_BRAND,
        "character_id": character.character_id,
        "identity_version": identity["identity_version"].get("version"),
        "consent_id": consent.consent_id,
        "storyboard": storyboard,
        "job_id": job.job_id,
        "job_state": generator_pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower(),
        "random_weights": job.random_weights,
    }
    if job.state != generator_pb.JOB_STATE_SUCCEEDED:
        summary["job_error"] = job.error.message
        summary["provenance_valid"] = False
        return summary
    clip = work / "demo-clip.mp4"
    with cli.assets() as assets:
        download_to(assets, job.clip_object_id, clip)
        asset = assets.api.GetGeneratedAsset(
            assets_pb.GetGeneratedAssetRequest(generated_asset_id=job.generated_asset_id)
        ).generated_asset
    report = verify_clip(cli, clip)
    scores = {usage.character_id: to_dict(usage) for usage in asset.characters}
    summary |= {
        "clip": clip,
        "clip_object_id": job.clip_object_id,
        "generated_asset_id": asset.generated_asset_id,
        "provenance_valid": report.valid,
        "provenance": report.summary,
        "stored_identity_scores": scores,
        "qa_flagged": asset.flagged,
    }
    return summary
