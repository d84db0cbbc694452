"""Values no contract allows (strings with a NUL character, NaN and infinite floats) are found at any
depth of a request (the validation interceptor's first check), named by their path."""

from __future__ import annotations

from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.rpc.interceptors import NOT_FINITE, NUL, untrusted_values


def test_nul_characters_are_found_in_nested_and_repeated_strings() -> None:
    request = generator_pb.SubmitGenerationRequest(idempotency_key="k", territory="FR")
    request.storyboard.shots.add(prompt="fine")
    request.storyboard.shots.add(prompt="bad\x00prompt", negative_prompt="also\x00bad")
    request.storyboard.shots[1].characters.add(character_id="\x00")
    assert list(untrusted_values(request)) == [
        ("storyboard.shots[1].prompt", NUL),
        ("storyboard.shots[1].negative_prompt", NUL),
        ("storyboard.shots[1].characters[0].character_id", NUL),
    ]


def test_non_finite_floats_are_found_in_nested_and_repeated_fields() -> None:
    from likeness.api.assets.v1 import assets_service_pb2 as assets_pb

    request = assets_pb.AddIdentityVersionRequest(z_id=[0.5, float("nan"), 0.25])
    request.quality.consistency_score = float("inf")
    report = request.quality.photo_reports.add(blur_variance=float("-inf"), detector_score=0.9)
    assert report.detector_score
    assert sorted(untrusted_values(request)) == sorted(
        [
            ("z_id[1]", NOT_FINITE),
            ("quality.consistency_score", NOT_FINITE),
            ("quality.photo_reports[0].blur_variance", NOT_FINITE),
        ]
    )


def test_a_clean_request_has_none() -> None:
    request = generator_pb.SubmitGenerationRequest(idempotency_key="k", territory="FR")
    request.storyboard.shots.add(prompt="a woman smiles")
    assert list(untrusted_values(request)) == []
