"""Generator pieces without servers: prompt/attribute contradictions, stitching, C2PA credentials."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from likeness.generator import provenance, stitching
from likeness.generator.attributes import FEMALE, MALE, CharacterAttributes, contradictions
from likeness.generator.domain import Shot, Storyboard, job_fraction

OLDER_MAN = CharacterAttributes("c-man", MALE, (55.0, 62.0), "estimated")
YOUNG_WOMAN = CharacterAttributes("c-woman", FEMALE, (22.0, 28.0), "declared")


def test_a_prompt_contradicting_the_only_character_is_found() -> None:
    found = contradictions("A young woman laughs in the rain", [OLDER_MAN])
    messages = [item.message for item in found]
    assert any("'woman'" in message and "male" in message for message in messages)
    assert any("'young'" in message and "55 to 62 years" in message for message in messages)
    assert {item.character_id for item in found} == {"c-man"}


def test_words_that_fit_some_character_of_the_shot_are_fine() -> None:
    assert contradictions("a man and a young woman share a coffee", [OLDER_MAN, YOUNG_WOMAN]) == []
    assert contradictions("an old town square at dusk, a 58-year-old man walks", [OLDER_MAN]) == []
    assert contradictions("a woman in her twenties", [OLDER_MAN])
    unknown = CharacterAttributes("c-x", None, None, "declared")
    assert contradictions("a little girl plays", [unknown]) == []


def test_job_fraction_weights_shots_by_cost() -> None:
    storyboard = Storyboard(
        shots=(
            Shot(prompt="a", num_inference_steps=10, num_frames=5),
            Shot(prompt="b", num_inference_steps=30, num_frames=5),
        )
    )
    assert job_fraction(storyboard, 0, 0, 10) == 0.0
    assert job_fraction(storyboard, 0, 10, 10) == pytest.approx(0.25)
    assert job_fraction(storyboard, 1, 15, 30) == pytest.approx(0.625)
    assert job_fraction(storyboard, 2, 0, 0) == 1.0


def _frames(count: int, value: int) -> np.ndarray:
    return np.full((count, 32, 48, 3), value, dtype=np.uint8)


def test_clips_round_trip_as_h264_at_their_frame_rate() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (9, 32, 48, 3), dtype=np.uint8)
    clip = stitching.encode_mp4(frames, 16)
    decoded, fps = stitching.decode_mp4(clip)
    assert decoded.shape == frames.shape and fps == 16.0
    import av

    with av.open(__import__("io").BytesIO(clip)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_stitching_cuts_and_crossfades() -> None:
    cut = stitching.stitch([_frames(5, 0), _frames(9, 200)], 16, None)
    assert len(cut) == 14 and cut[4].max() == 0 and cut[5].min() == 200
    faded = stitching.stitch([_frames(9, 0), _frames(9, 200)], 4, 0.5)
    # Two frames overlap: the clip is two frames shorter and ramps between the shots.
    assert len(faded) == 16
    ramp = [int(frame.mean()) for frame in faded[6:10]]
    assert ramp[0] == 0 and 0 < ramp[1] < ramp[2] < 200 and ramp[3] == 200
    with pytest.raises(ValueError, match="shorter than the shortest shot"):
        stitching.stitch([_frames(5, 0), _frames(5, 1)], 4, 2.0)


def test_c2pa_credentials_read_back_valid_with_the_assertions(tmp_path: Path) -> None:
    identity = provenance.development_identity(tmp_path)
    assert (tmp_path / "c2pa-dev-key.pem").stat().st_mode & 0o077 == 0
    assert provenance.development_identity(tmp_path) == identity  # made once, then reused
    clip = stitching.encode_mp4(_frames(5, 90), 16)
    assertion = provenance.likeness_assertion(
        job_id="job-1",
        brand_id="acme",
        shot_indexes=[0],
        characters=[{"character_id": "c-1", "identity_version": 2, "consent_id": "k-1"}],
        purpose="ADVERTISING",
        channel="TV",
        territory="FR",
        model={"model_id": "tiny", "adapter_id": "", "random_weights": True},
    )
    signed = provenance.sign_clip(identity, clip, assertion, "job-1")
    assert stitching.decode_mp4(signed.clip)[0].shape[0] == 5
    trusted = provenance.read_manifest(signed.clip, identity.trust_anchor_pem)
    assert trusted["validation_state"] == "Trusted"
    untrusted = provenance.read_manifest(signed.clip)
    assert untrusted["validation_state"] == "Valid"
    manifest = trusted["manifests"][trusted["active_manifest"]]
    assertions = {item["label"]: item["data"] for item in manifest["assertions"]}
    actions = assertions["c2pa.actions.v2"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == provenance.DIGITAL_SOURCE_TYPE
    assert assertions[provenance.LIKENESS_ASSERTION] == assertion
    # A changed byte breaks the binding.
    tampered = bytearray(signed.clip)
    tampered[-100] ^= 0xFF
    assert (
        provenance.read_manifest(bytes(tampered), identity.trust_anchor_pem)["validation_state"] == "Invalid"
    )
