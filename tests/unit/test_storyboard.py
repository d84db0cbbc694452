"""The YAML storyboard format of `likeness generate`."""

from __future__ import annotations

import protovalidate
import pytest

from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.cli.storyboard import StoryboardError, parse_storyboard

AVA = "6f1c0a52-8d5e-4c1b-9a51-0c1d2e3f4a5b"
BEN = "0b7e9c1d-2f3a-4b5c-8d6e-7f8091a2b3c4"

STORYBOARD = f"""
purpose: advertising
channel: online_video
territory: fr
qa_similarity_threshold: 0.45
stitching: {{transition: crossfade, crossfade_seconds: 0.25}}
defaults: {{resolution: 480p, frames: 9, steps: 4, guidance: 3.5}}
characters:
  ava: {{id: {AVA}, strength: 0.8}}
  ben: {{id: {BEN}, version: 2, reference_images: true, reference_scale: 0.5}}
shots:
  - prompt: a woman walks through a market
    characters: [ava]
    seed: 7
  - prompt: two friends laugh at a cafe table
    characters: [ava, {{name: ben, strength: 0.6}}]
    frames: 13
"""


def test_a_storyboard_becomes_a_valid_request() -> None:
    request = parse_storyboard(STORYBOARD, "key-1")
    protovalidate.validate(request)
    assert request.idempotency_key == "key-1"
    assert request.purpose == usage_pb2.USAGE_PURPOSE_ADVERTISING
    assert request.channel == usage_pb2.USAGE_CHANNEL_ONLINE_VIDEO
    assert request.territory == "FR"
    board = request.storyboard
    assert board.qa_similarity_threshold == pytest.approx(0.45)
    assert board.stitching.transition == generator_pb.TRANSITION_CROSSFADE
    assert board.stitching.crossfade_duration.ToNanoseconds() == 250_000_000
    first, second = board.shots
    assert (first.num_frames, first.num_inference_steps, first.seed) == (9, 4, 7)
    assert first.guidance_scale == pytest.approx(3.5)
    assert first.resolution == second.resolution == generator_pb.RESOLUTION_480P
    assert [c.character_id for c in first.characters] == [AVA]
    assert first.characters[0].identity_strength == pytest.approx(0.8)
    ava, ben = second.characters
    assert ava.character_id == AVA and ava.identity_strength == pytest.approx(0.8)
    assert second.num_frames == 13 and not second.HasField("seed")
    assert ben.character_id == BEN and ben.identity_version == 2 and ben.use_reference_images
    assert ben.identity_strength == pytest.approx(0.6)
    assert ben.reference_conditioning_scale == pytest.approx(0.5)
    assert not first.characters[0].use_reference_images


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("purpose: advertising", "purpose: billboards"), "purpose: unknown value 'billboards'"),
        (("characters: [ava]", "characters: [carl]"), "shots[0].characters[0]: 'carl' is not in"),
        (("    seed: 7", "    sede: 7"), "shots[0]: unknown key(s) sede"),
        (("resolution: 480p", "resolution: 4k"), "defaults.resolution: '4k'; choose 480p or 720p"),
        (
            ("  - prompt: a woman walks through a market", "  - negative_prompt: x"),
            "shots[0]: 'prompt' is required",
        ),
        (("territory: fr", "territory: [fr"), "not valid YAML"),
    ],
)
def test_mistakes_name_their_place(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in STORYBOARD
    with pytest.raises(StoryboardError) as raised:
        parse_storyboard(STORYBOARD.replace(old, new), "key-1")
    assert message in str(raised.value)


def test_required_keys() -> None:
    with pytest.raises(StoryboardError, match="'shots' is required"):
        parse_storyboard("purpose: social\nchannel: social\nterritory: WORLD\n", "k")


def test_shots_are_final_unless_they_or_the_command_say_draft() -> None:
    request = parse_storyboard(STORYBOARD, "key-2")
    assert [shot.preset for shot in request.storyboard.shots] == [generator_pb.SPEED_PRESET_FINAL] * 2
    preview = parse_storyboard(STORYBOARD, "key-3", preset="draft")
    protovalidate.validate(preview)  # the storyboard's steps and guidance are left to the draft LoRA
    for shot in preview.storyboard.shots:
        assert shot.preset == generator_pb.SPEED_PRESET_DRAFT
        assert shot.num_inference_steps == 0 and not shot.HasField("guidance_scale")
    # The same seeds: the preview shows the shots the final render will make.
    assert [shot.seed for shot in preview.storyboard.shots] == [
        shot.seed for shot in request.storyboard.shots
    ]


def test_a_draft_shot_may_not_set_steps_or_guidance() -> None:
    text = STORYBOARD.replace("    seed: 7\n", "    seed: 7\n    preset: draft\n")
    with pytest.raises(StoryboardError, match=r"shots\[0\]: a draft shot runs the draft LoRA's own 4 steps"):
        parse_storyboard(text, "key-4")
    text = text.replace("steps: 4, guidance: 3.5", "steps: 4").replace("steps: 4}", "}")
    request = parse_storyboard(text.replace("frames: 9, }", "frames: 9}"), "key-5")
    protovalidate.validate(request)
    assert request.storyboard.shots[0].preset == generator_pb.SPEED_PRESET_DRAFT
    with pytest.raises(StoryboardError, match=r"shots\[0\]\.preset: unknown value 'fastest'"):
        parse_storyboard(text.replace("preset: draft", "preset: fastest"), "key-6")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Character ids, in the characters table where the user wrote them.
        ((f"ava: {{id: {AVA}", "ava: {id: not-a-uuid"), "characters.ava.id: must be a valid UUID"),
        # Frame counts: a shot's own, or the defaults' when the shot has none.
        (("    frames: 13", "    frames: 12"), "shots[1].frames: num_frames must be 0 (default 81) or 4k+1"),
        (("frames: 9,", "frames: 200,"), "defaults.frames: num_frames must be 0 (default 81) or 4k+1"),
        (("    frames: 13", "    frames: lots"), "shots[1].frames: expected an integer, got 'lots'"),
        # Resolutions.
        (
            ("    seed: 7", "    seed: 7\n    resolution: 1080p"),
            "shots[0].resolution: '1080p'; choose 480p or 720p",
        ),
        # Strengths: the character's own, or the shot's override.
        (
            ("strength: 0.8}", "strength: 2.5}"),
            "characters.ava.strength: must be greater than or equal",
        ),
        (
            ("{name: ben, strength: 0.6}", "{name: ben, strength: -1}"),
            "shots[1].characters[1].strength: must be",
        ),
        (("reference_scale: 0.5", "reference_scale: 9"), "characters.ben.reference_scale: must be"),
        # Character names.
        (
            ("[ava, {name: ben", "[ava, {name: bob"),
            "shots[1].characters[1]: 'bob' is not in the storyboard's",
        ),
        (("characters: [ava]", "characters: [ava, ava]"), "shots[0]: a character may appear once per shot"),
        # Other numbers.
        (("guidance: 3.5", "guidance: 50"), "defaults.guidance: must be greater than or equal to 1"),
        (
            ("qa_similarity_threshold: 0.45", "qa_similarity_threshold: 2"),
            "qa_similarity_threshold: must be greater than or equal to 0",
        ),
    ],
)
def test_contract_rules_are_checked_locally_at_the_yaml_path(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in STORYBOARD
    with pytest.raises(StoryboardError) as raised:
        parse_storyboard(STORYBOARD.replace(old, new), "key-1")
    assert message in str(raised.value)


def test_a_mistake_repeated_by_defaults_is_reported_once() -> None:
    with pytest.raises(StoryboardError) as raised:
        parse_storyboard(STORYBOARD.replace("guidance: 3.5", "guidance: 50"), "key-1")
    assert str(raised.value).count("defaults.guidance") == 1


def test_what_the_server_refuses_is_reported_at_yaml_paths_and_character_names() -> None:
    import grpc
    from google.rpc import error_details_pb2

    from likeness.cli.storyboard import in_storyboard_words, parse_storyboard_with_paths
    from likeness.sdk import LikenessError

    _, paths = parse_storyboard_with_paths(STORYBOARD, "key-1")
    precondition = error_details_pb2.PreconditionFailure()
    precondition.violations.add(type="EXPIRED", subject=AVA, description="consent expired on 2026-01-01")
    precondition.violations.add(
        type="NO_IDENTITY_ADAPTER",
        subject="storyboard.shots[1].characters[1].identity_strength",
        description="this deployment has no identity adapter",
    )
    bad = error_details_pb2.BadRequest()
    bad.field_violations.add(field="storyboard.shots[0].num_frames", description="too many frames")
    error = LikenessError(grpc.StatusCode.FAILED_PRECONDITION, "refused", [precondition, bad])
    assert in_storyboard_words(error, paths) == [
        "defaults.frames: too many frames",
        "characters.ava: consent expired on 2026-01-01",
        "shots[1].characters[1].strength: this deployment has no identity adapter",
    ]
    assert in_storyboard_words(LikenessError(grpc.StatusCode.INTERNAL, "boom"), paths) == []
