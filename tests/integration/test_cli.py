"""The user CLI through the real services that `likeness up` starts (one instance per module)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner

from likeness.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_FORBIDDEN,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from likeness.cli.main import app
from tests.integration.test_graceful_shutdown import free_port
from tests.integration.test_up import LIKENESS, interrupt, start_up

pytestmark = pytest.mark.e2e

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@dataclass
class Stack:
    state_dir: Path
    environment: dict[str, str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("cli")
    state_dir = root / "state"
    ports = {name: free_port() for name in ("identity", "assets", "generator")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LIKENESS_")}
    environment.update({f"LIKENESS_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    environment["LIKENESS_STATE_DIR"] = str(state_dir)
    process = start_up(state_dir, environment, root / "up.log")
    try:
        yield Stack(state_dir, environment)
    finally:
        assert interrupt(process) == 0


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


def likeness(stack: Stack, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run the CLI in-process with the stack's environment (and nothing else from ours)."""
    runner = CliRunner()
    environment = {key: None for key in os.environ if key.startswith("LIKENESS_")}
    environment.update(
        {key: value for key, value in stack.environment.items() if key.startswith("LIKENESS_")}
    )
    environment.update(env or {})
    result = runner.invoke(app, list(args), env=environment, input=input, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def test_brand_create_use_show_and_json(stack: Stack) -> None:
    created = likeness(stack, "--json", "brand", "create", "cli-brand", "--name", "CLI Brand")
    assert created.exit_code == 0, created.stderr
    assert created.json() == created.json() | {"brand_id": "cli-brand", "display_name": "CLI Brand"}

    shown = likeness(stack, "--json", "brand", "show")  # the brand just created is now the current one
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["brand_id"] == "cli-brand"  # type: ignore[index]

    people = likeness(stack, "brand", "show")
    assert "CLI Brand" in people.stdout

    again = likeness(stack, "brand", "create", "cli-brand")
    assert again.exit_code == EXIT_REFUSED
    assert again.stderr.count("\n") == 1 and "ALREADY_EXISTS" in again.stderr


def test_unknown_brand_is_not_found_with_one_line(stack: Stack) -> None:
    result = likeness(stack, "brand", "use", "no-such-brand")
    assert result.exit_code == EXIT_NOT_FOUND
    assert result.stderr.startswith("error: NOT_FOUND") and result.stderr.count("\n") == 1


def test_bad_arguments_and_missing_brand_exit_with_usage(stack: Stack, tmp_path: Path) -> None:
    bad = likeness(stack, "brand", "create", "Not A Slug")
    assert bad.exit_code == EXIT_USAGE and "lower-case slug" in bad.stderr
    bad = likeness(stack, "brand", "create", "long-name", "--name", "x" * 201)
    assert bad.exit_code == EXIT_USAGE and "INVALID_ARGUMENT" in bad.stderr

    fresh = likeness(stack, "--state-dir", str(tmp_path), "--brand", "cli-brand", "brand", "show")
    assert fresh.exit_code == EXIT_FORBIDDEN and "no token" in fresh.stderr

    (tmp_path / "jwt-key.json").write_bytes((stack.state_dir / "jwt-key.json").read_bytes())
    no_brand = likeness(stack, "--state-dir", str(tmp_path), "brand", "show")
    assert no_brand.exit_code == EXIT_USAGE and "no brand" in no_brand.stderr


def test_a_foreign_token_is_refused(stack: Stack) -> None:
    result = likeness(stack, "--brand", "cli-brand", "brand", "show", env={"LIKENESS_TOKEN": "not-a-jwt"})
    assert result.exit_code == EXIT_FORBIDDEN and "UNAUTHENTICATED" in result.stderr


def test_unreachable_services_say_so(stack: Stack) -> None:
    result = likeness(
        stack,
        "--brand",
        "cli-brand",
        "brand",
        "show",
        env={"LIKENESS_ASSETS_TARGET": f"127.0.0.1:{free_port()}"},
    )
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "UNAVAILABLE" in result.stderr and "likeness up" in result.stderr


def test_audit_verify_and_list(stack: Stack) -> None:
    assert likeness(stack, "brand", "create", "audited-brand").exit_code == 0
    verified = likeness(stack, "--json", "audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    report = verified.json()
    assert report["ok"] is True and int(report["events_checked"]) >= 1  # type: ignore[index]

    listed = likeness(stack, "--json", "audit", "list")
    actions = [event["action"] for event in listed.json()]  # type: ignore[union-attr]
    assert actions[:2] == ["brand.create", "audit.verify"]
    assert "brand.create" in likeness(stack, "audit", "list").stdout


@pytest.fixture(scope="module")
def character(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A character registered through the CLI from three photos, with a consent record."""
    from likeness.cli.demo import demo_evidence, demo_photos

    work = tmp_path_factory.mktemp("character")
    assert likeness(stack, "brand", "create", "cli-actors").exit_code == 0
    photos: list[str] = []
    for photo in demo_photos(work / "photos"):
        photos += ["--photo", str(photo)]
    created = likeness(
        stack,
        "--json",
        "character",
        "create",
        "--name",
        "Ava",
        "--gender",
        "female",
        "--age",
        "30-50",
        *photos,
        "--consent-subject",
        "Ava Example",
        "--consent-evidence",
        str(demo_evidence(work / "release.png")),
        "--purpose",
        "advertising",
        "--channel",
        "online_video",
        "--territory",
        "FR",
    )
    assert created.exit_code == 0, created.stderr
    result = created.json()
    assert isinstance(result, dict)
    return result


def test_character_create_prints_quality_and_attributes(character: dict[str, Any], stack: Stack) -> None:
    version = character["identity_version"]
    assert version["version"] == 1 and version["status"] == "IDENTITY_VERSION_STATUS_ACTIVE"
    assert [report["accepted"] for report in character["photo_reports"]] == [True, True, True]
    assert character["estimated_attributes"]["age"]["years"] > 0
    assert character["collision_detected"] is False
    character_id = character["character"]["character_id"]

    shown = likeness(stack, "--json", "character", "show", character_id)
    assert shown.exit_code == 0, shown.stderr
    details = shown.json()
    assert details["character"]["current_identity_version"] == 1  # type: ignore[index]
    assert len(details["consents"]) == 1  # type: ignore[index]

    listed = likeness(stack, "--json", "character", "list")
    assert character_id in [c["character_id"] for c in listed.json()]  # type: ignore[union-attr]
    assert "Ava" in likeness(stack, "character", "list").stdout


def test_character_create_without_consent_refuses_photos(stack: Stack, tmp_path: Path) -> None:
    from likeness.cli.demo import demo_photos

    photo = demo_photos(tmp_path)[0]
    result = likeness(stack, "character", "create", "--name", "No consent", "--photo", str(photo))
    assert result.exit_code == EXIT_USAGE and "needs consent" in result.stderr


def test_character_create_stopped_at_any_step_is_finished_by_running_it_again(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from likeness.cli import characters
    from likeness.cli.demo import demo_evidence, demo_photos
    from likeness.sdk import LikenessError

    brand = {"LIKENESS_BRAND": "cli-resume"}
    saved = stack.state_dir / "cli.json"
    current = saved.read_bytes()
    assert likeness(stack, "brand", "create", "cli-resume", env=brand).exit_code == 0
    saved.write_bytes(current)  # the other tests keep their brand
    photos: list[str] = []
    for photo in demo_photos(tmp_path / "photos"):
        photos += ["--photo", str(photo)]
    consent = (
        "--consent-subject",
        "Rea Example",
        "--consent-evidence",
        str(demo_evidence(tmp_path / "r.png")),
    )
    command = ("--json", "character", "create", "--name", "Rea", *photos, *consent, *USE)

    def characters_named(name: str) -> list[dict[str, Any]]:
        listed = likeness(stack, "--json", "character", "list", env=brand)
        return [c for c in listed.json() if c["display_name"] == name]  # type: ignore[union-attr]

    # The quality gate refuses the photos: nothing is stored.
    blank = tmp_path / "blank.png"
    Image.new("RGB", (256, 256), "grey").save(blank)
    refused = likeness(
        stack, "character", "create", "--name", "Faceless", "--photo", str(blank), *consent, *USE, env=brand
    )
    assert refused.exit_code != 0
    assert characters_named("Faceless") == []

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise LikenessError(grpc.StatusCode.UNAVAILABLE, "connection lost")

    # Stopped after the character: consent and identity are missing, the user is told what to do.
    monkeypatch.setattr(characters, "record_consent", unavailable)
    first = likeness(stack, *command, env=brand)
    assert first.exit_code == EXIT_UNAVAILABLE
    assert "run the same command again" in " ".join(first.stderr.split())  # the console wraps lines
    (created,) = characters_named("Rea")
    monkeypatch.undo()
    # Stopped after the consent: the same command picks the same character up.
    monkeypatch.setattr(characters, "store_identity", unavailable)
    second = likeness(stack, *command, env=brand)
    assert second.exit_code == EXIT_UNAVAILABLE and "resuming" in second.stderr
    monkeypatch.undo()
    finished = likeness(stack, *command, env=brand)
    assert finished.exit_code == 0, finished.stderr
    result = finished.json()
    assert isinstance(result, dict)
    assert result["character"]["character_id"] == created["character_id"]
    assert result["identity_version"]["version"] == 1
    assert [c["character_id"] for c in characters_named("Rea")] == [created["character_id"]]
    shown = likeness(stack, "--json", "character", "show", created["character_id"], env=brand).json()
    # The same face as another test's character in another brand waits for review (not yet current).
    expected = 0 if result["collision_detected"] else 1
    assert shown["character"]["current_identity_version"] == expected  # type: ignore[index]
    assert len(shown["consents"]) == 1  # type: ignore[index]
    assert list((stack.state_dir / "registrations").iterdir()) == []  # nothing left to resume
    # A new registration of the same name afterwards is a new character.
    again = likeness(stack, "--json", "character", "create", "--name", "Rea", env=brand)
    assert again.exit_code == 0 and len(characters_named("Rea")) == 2


USE = ("--purpose", "advertising", "--channel", "online_video", "--territory", "FR")


def record_fresh_consent(stack: Stack, character_id: str, tmp_path: Path) -> None:
    """A new consent record for the usual use (the consent test may have revoked the first one)."""
    from likeness.cli.demo import demo_evidence

    recorded = likeness(
        stack, "consent", "record", character_id, "--subject", "Ava Example",
        "--evidence", str(demo_evidence(tmp_path / "release.png")), *USE,
    )  # fmt: skip
    assert recorded.exit_code == 0, recorded.stderr


def test_consent_show_check_and_revoke(character: dict[str, Any], stack: Stack) -> None:
    character_id = character["character"]["character_id"]
    allowed = likeness(stack, "--json", "consent", "show", character_id, *USE)
    assert allowed.exit_code == 0 and allowed.json()["check"]["allowed"] is True  # type: ignore[index]
    denied = likeness(
        stack,
        "consent",
        "show",
        character_id,
        "--purpose",
        "advertising",
        "--channel",
        "tv",
        "--territory",
        "FR",
    )
    assert denied.exit_code == 0 and "denied (channel_not_covered)" in denied.stdout

    unknown = likeness(stack, "consent", "show", "00000000-0000-4000-8000-000000000000")
    assert unknown.exit_code == EXIT_NOT_FOUND

    revoked = likeness(
        stack, "consent", "revoke", character["consent"]["consent_id"], "--reason", "test over"
    )
    assert revoked.exit_code == 0, revoked.stderr
    after = likeness(stack, "--json", "consent", "show", character_id, *USE)
    check = after.json()["check"]  # type: ignore[index]
    assert check["allowed"] is False and check["denial_reason"] == "CONSENT_DENIAL_REASON_REVOKED"


def test_a_consent_refusal_says_what_the_consent_covers_and_how_to_record_a_wider_one(
    character: dict[str, Any], stack: Stack, tmp_path: Path
) -> None:
    character_id = character["character"]["character_id"]
    record_fresh_consent(stack, character_id, tmp_path)
    storyboard = tmp_path / "tv.yaml"
    storyboard.write_text(  # the consent covers online video, not TV
        "purpose: advertising\nchannel: tv\nterritory: FR\n"
        f"characters:\n  ava: {{id: {character_id}}}\n"
        "shots:\n  - prompt: a woman smiles\n    characters: [ava]\n"
    )
    refused = likeness(stack, "generate", str(storyboard))
    assert refused.exit_code == EXIT_REFUSED, refused.stderr
    assert "characters.ava: consent" in refused.stderr
    assert "does not cover channel TV (it covers ONLINE_VIDEO)" in refused.stderr
    assert f"likeness consent record {character_id} --subject <name> --evidence <file>" in refused.stderr
    assert "--purpose advertising --channel tv --territory FR" in refused.stderr


class Terminal:
    """The real `likeness` command on a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, stack: Stack, *args: str) -> None:
        self._primary, secondary = pty.openpty()
        self.process = subprocess.Popen(
            [LIKENESS, *args], stdin=secondary, stdout=secondary, stderr=secondary, env=stack.environment
        )
        os.close(secondary)
        self.output = ""

    def wait_for(self, pattern: str, timeout: float = 180) -> re.Match[str]:
        """Read what the command prints until ``pattern`` shows (ANSI codes removed)."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.output)) is None:
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} never appeared in:\n{self.output[-3000:]}"
            ready, _, _ = select.select([self._primary], [], [], left)
            if ready:
                try:
                    chunk = os.read(self._primary, 65536)
                except OSError:  # the command exited and closed the terminal
                    chunk = b""
                assert chunk, f"the command ended before {pattern!r}:\n{self.output[-3000:]}"
                self.output += ANSI.sub("", chunk.decode(errors="replace"))
        return found

    def type(self, text: str) -> None:
        os.write(self._primary, text.encode())

    def exit_code(self) -> int:
        code = self.process.wait(timeout=60)
        with contextlib.suppress(OSError):
            while chunk := os.read(self._primary, 65536):
                self.output += ANSI.sub("", chunk.decode(errors="replace"))
        os.close(self._primary)
        return code


@pytest.mark.parametrize("answer", ["y", "n"])
def test_ctrl_c_during_generate_offers_to_cancel(
    answer: str, character: dict[str, Any], stack: Stack, tmp_path: Path
) -> None:
    character_id = character["character"]["character_id"]
    record_fresh_consent(stack, character_id, tmp_path)
    storyboard = tmp_path / "long.yaml"
    storyboard.write_text(  # minutes of denoising on the CPU: it is still running when interrupted
        "purpose: advertising\nchannel: online_video\nterritory: FR\n"
        "defaults: {resolution: 480p, frames: 81, steps: 40}\n"
        f"characters:\n  ava: {{id: {character_id}}}\n"
        "shots:\n  - prompt: a woman smiles\n    characters: [ava]\n"
    )
    terminal = Terminal(stack, "generate", str(storyboard))
    job_id = terminal.wait_for(r"submitted job ([0-9a-f-]{36})").group(1)
    terminal.wait_for(r"shot 1/1")
    # The bars say what the job is doing and for how long it has run.
    terminal.wait_for(r"\d+/40 steps · denoising")
    terminal.wait_for(r"job .*% · \d+:\d\d elapsed")
    terminal.process.send_signal(signal.SIGINT)
    terminal.wait_for(rf"Cancel job {job_id}\?")
    terminal.type(answer + "\n")
    assert terminal.exit_code() == EXIT_INTERRUPTED, terminal.output
    assert "Traceback" not in terminal.output

    if answer == "y":
        assert re.search(rf"job {job_id} is \w+", terminal.output), terminal.output
    else:
        assert f"likeness job watch {job_id}" in terminal.output
        assert f"likeness job cancel {job_id}" in terminal.output
        shown = likeness(stack, "--json", "job", "show", job_id).json()
        assert shown["state"] in {"JOB_STATE_CHECKING", "JOB_STATE_RUNNING"}, shown  # type: ignore[index]
        assert likeness(stack, "job", "cancel", job_id).exit_code == 0
    # Either way the job ends cancelled, and frees the model for the tests after this one.
    watched = likeness(stack, "--json", "job", "watch", job_id)
    assert watched.exit_code == EXIT_CHECK_FAILED
    assert watched.json()["job"]["state"] == "JOB_STATE_CANCELLED"  # type: ignore[index]


def test_generate_job_asset_provenance_and_erase(
    character: dict[str, Any], stack: Stack, tmp_path: Path
) -> None:
    character_id = character["character"]["character_id"]
    record_fresh_consent(stack, character_id, tmp_path)
    storyboard = tmp_path / "storyboard.yaml"
    storyboard.write_text(
        "purpose: advertising\nchannel: online_video\nterritory: FR\n"
        "defaults: {resolution: 480p, frames: 5, steps: 2}\n"
        f"characters:\n  ava: {{id: {character_id}, strength: 0.8}}\n"
        "shots:\n  - prompt: a woman smiles\n    characters: [ava]\n    seed: 3\n"
    )
    clip = tmp_path / "clip.mp4"
    generated = likeness(
        stack, "--json", "generate", str(storyboard), "-o", str(clip), "--idempotency-key", "cli-1"
    )
    assert generated.exit_code == 0, generated.stderr
    result = generated.json()
    job = result["job"]  # type: ignore[index]
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["random_weights"] is True
    assert clip.read_bytes()[4:8] == b"ftyp" and result["clip_sha256"]  # type: ignore[index]

    again = likeness(stack, "--json", "generate", str(storyboard), "--no-wait", "--idempotency-key", "cli-1")
    assert again.exit_code == 0 and again.json()["job_id"] == job["job_id"]  # type: ignore[index]

    shown = likeness(stack, "job", "show", job["job_id"])
    assert shown.exit_code == 0 and "succeeded" in shown.stdout
    listed = likeness(stack, "--json", "job", "list")
    assert job["job_id"] in [j["job_id"] for j in listed.json()]  # type: ignore[union-attr]
    watched = likeness(stack, "--json", "job", "watch", job["job_id"])
    assert watched.exit_code == 0 and watched.json()["job"]["state"] == "JOB_STATE_SUCCEEDED"  # type: ignore[index]
    cancelled = likeness(stack, "job", "cancel", job["job_id"])
    assert cancelled.exit_code == EXIT_REFUSED and cancelled.stderr.count("\n") == 1

    verified = likeness(stack, "--json", "provenance", "verify", str(clip))
    assert verified.exit_code == 0, verified.stderr
    manifest = verified.json()
    assert manifest["valid"] is True and manifest["likeness"]["job_id"] == job["job_id"]  # type: ignore[index]
    tampered = tmp_path / "tampered.mp4"
    data = bytearray(clip.read_bytes())
    data[-100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    assert likeness(stack, "provenance", "verify", str(tampered)).exit_code == EXIT_CHECK_FAILED

    download = tmp_path / "download.mp4"
    fetched = likeness(stack, "asset", "download", job["clip_object_id"], "-o", str(download))
    assert fetched.exit_code == 0 and download.read_bytes() == clip.read_bytes()

    erased = likeness(
        stack, "--json", "character", "erase", character_id, "--reason", "subject request", "--yes"
    )
    assert erased.exit_code == 0, erased.stderr
    assert likeness(stack, "asset", "download", job["clip_object_id"]).exit_code == EXIT_NOT_FOUND
    again_erased = likeness(stack, "--json", "character", "erase", character_id, "--reason", "again", "--yes")
    assert again_erased.json()["already_erased"] is True  # type: ignore[index]
    assert likeness(stack, "audit", "verify").exit_code == 0
